import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { preloadRest } from './lib/lazy';
import { AppState } from './stores/app.svelte';

performance.mark('tercet:start');
// The app starts before it mounts: the view's first requests (allowed services, schema, its
// points) go out first and travel while the page mounts (~0.3 s of the main thread), since an
// answer that arrives during the mount waits for it. Mounting waits for them at most MOUNT_WAIT.
const MOUNT_WAIT = 400;
const state = new AppState();
void state.start();
let mounted = false;
const mountApp = () => {
  if (mounted) return;
  mounted = true;
  mount(App, { target: document.getElementById('app')!, props: { app: state } });
};
void state.firstAsks.then(mountApp);
setTimeout(mountApp, MOUNT_WAIT);

// The other chunks are asked once the view's first frame is up (or after 3 s on other pages),
// so they never compete with the first frame and are there before anyone switches a tab.
const firsts = new Set(['tercet:scatter2d:first-frame', 'tercet:grid:first-rows', 'tercet:gallery:first-tiles']);
new PerformanceObserver((list, obs) => {
  if (list.getEntries().some((e) => firsts.has(e.name))) {
    obs.disconnect();
    preloadRest();
  }
}).observe({ type: 'mark' });
setTimeout(preloadRest, 3000);

