// @ts-nocheck
import createScatterplot, { createSpatialIndex } from 'regl-scatterplot';
import createKDBushClass from 'regl-scatterplot/src/kdbush-class.js';
const KDBush = createKDBushClass();
const q = new URLSearchParams(location.search);
const N = Number(q.get('n') || 1000000);
const mode = q.get('mode') || 'regl';
const t0 = performance.now();
const x = new Float32Array(N), y = new Float32Array(N), z = new Float32Array(N);
for (let i = 0; i < N; i++) { const a = Math.random()*6.28, r = Math.sqrt(Math.random()); x[i] = Math.cos(a)*r*0.9; y[i] = Math.sin(a)*r*0.9; z[i] = i % 10; }
const t1 = performance.now();
const canvas = document.getElementById('c');
const sp = createScatterplot({ canvas, width: 800, height: 600, pointSize: 2, pointColor: ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'], colorBy: 'valueA', spatialIndexUseWorker: true, performanceMode: q.get('perf') === '1' });
let spatialIndex;
if (mode === 'pre') {
  const idx = new KDBush(N, 16, Float32Array);
  for (let i = 0; i < N; i++) idx.add(x[i], y[i]);
  idx.finish();
  spatialIndex = idx.data;
}
const t2 = performance.now();
sp.draw({ x, y, valueA: z }, { zDataType: 'categorical', spatialIndex }).then(() => { requestAnimationFrame(() => { window.done = performance.now(); window.times = { gen: t1 - t0, index: t2 - t1, draw: window.done - t2 }; }); });
