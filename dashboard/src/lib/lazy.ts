// Parts of the page that are not on a view's first frame (the other chart tabs, the gallery, the
// project pages) live in chunks of their own, so the scatter and the grid mount sooner: the first
// bundle is smaller to fetch, parse and run. Each chunk is asked once; `preloadRest()` asks for
// all of them once the first frame is up, so a tab switch later does not wait for the network.
import type { Component } from 'svelte';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loader = () => Promise<{ default: Component<any> }>;

function once(load: Loader): Loader {
  let p: ReturnType<Loader> | null = null;
  return () => (p ??= load().catch((err: unknown) => {
    p = null; // a failed fetch (service restarting, a new build) is asked again next time
    throw err;
  }));
}

export const lazy = {
  histogram: once(() => import('../components/charts/Histogram.svelte')),
  curves: once(() => import('../components/charts/Curves.svelte')),
  trajectory: once(() => import('../components/charts/Trajectory.svelte')),
  image: once(() => import('../components/charts/ImageView.svelte')),
  confusion: once(() => import('../components/charts/Confusion.svelte')),
  issues: once(() => import('../components/insights/IssuesPanel.svelte')),
  gallery: once(() => import('../components/gallery/Gallery.svelte')),
  projects: once(() => import('../components/Projects.svelte')),
  projectPage: once(() => import('../components/ProjectPage.svelte')),
  cheatSheet: once(() => import('../components/CheatSheet.svelte')),
} satisfies Record<string, Loader>;

let preloading = false;

/** Asks for every chunk, when the page is idle: after the first frame, nothing waits for them. */
export function preloadRest(): void {
  if (preloading) return;
  preloading = true;
  const run = () => {
    for (const load of Object.values(lazy)) load().catch(() => {});
  };
  if ('requestIdleCallback' in window) requestIdleCallback(run, { timeout: 2000 });
  else setTimeout(run, 200);
}
