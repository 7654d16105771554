export interface LineSeries {
  label: string;
  color: string;
  x: number[];
  y: (number | null)[];
  dash?: boolean;
}

/**
 * Per-step values as one point per epoch: the mean of the epoch's values (the last batch alone
 * says little about an epoch). Steps logged without an epoch are left out.
 */
export function epochMeans(epoch: (number | null)[], value: (number | null)[]): { x: number[]; y: number[] } {
  const sums = new Map<number, { s: number; n: number }>();
  epoch.forEach((e, i) => {
    const v = value[i];
    if (e === null || v === null || !Number.isFinite(v)) return;
    const acc = sums.get(e) ?? { s: 0, n: 0 };
    acc.s += v;
    acc.n += 1;
    sums.set(e, acc);
  });
  const x = [...sums.keys()].sort((a, b) => a - b);
  return { x, y: x.map((e) => sums.get(e)!.s / sums.get(e)!.n) };
}

/**
 * Y-axis ticks over [min, max]: at least `least` of them (uPlot's own choice leaves a short
 * chart with one or two), on a step of 1, 2, 2.5 or 5 times a power of ten.
 */
export function yTicks(min: number, max: number, least = 4): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return Number.isFinite(min) ? [min] : [];
  // `least` steps fit in the range, so at least `least` multiples of the step lie in it.
  const rough = (max - min) / least;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [5, 2.5, 2, 1].map((m) => m * power).find((s) => s <= rough) ?? power;
  const out: number[] = [];
  // Rounded to the step's precision, so 0.30000000000000004 prints as 0.3.
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toFixed(digits)));
  return out;
}
