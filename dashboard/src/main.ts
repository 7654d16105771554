import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { preloadRest } from './lib/lazy';

performance.mark('tercet:start');
const app = mount(App, { target: document.getElementById('app')! });

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

export default app;
