// Named moments of the first load, for the benchmark's breakdown (bench/bench_dashboard.py reads
// them with the Performance API): each is marked once per page, so later loads add nothing.
// `startTime` places a moment seen elsewhere (in a worker) on the page's clock.
export function markOnce(name: string, startTime?: number): void {
  if (performance.getEntriesByName(name, 'mark').length === 0) performance.mark(name, { startTime });
}
