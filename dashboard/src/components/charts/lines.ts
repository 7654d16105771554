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
