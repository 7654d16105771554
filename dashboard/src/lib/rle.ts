// COCO run-length masks in the browser. No small, kept-up npm package decodes COCO's compressed
// `counts` string, so this follows pycocotools' maskApi.c (rleFrString) line by line; the unit
// test (tests/test_dashboard_rle.py) checks it against pycocotools on random masks.

/** The run lengths of a compressed COCO RLE string: background first, then alternating. */
export function rleCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error(`RLE counts end inside a number (character ${p} of ${s.length}).`);
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`RLE counts: character ${p} (${JSON.stringify(s[p])}) is not in COCO's alphabet.`);
      // arithmetic, not bit operators: JavaScript's shifts wrap at 32 bits, C's long does not
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && c & 0x10) x -= 2 ** (5 * k);
    }
    // from the third on, each count is stored as the difference to the one two before
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

export interface MaskPath {
  /** SVG path of the mask's pixels: one 1-px-wide column piece per run of ones. */
  d: string;
  /** Pixels in the mask. */
  area: number;
}

/**
 * The pixels of an RLE mask of `size` [h, w] as an SVG path in image pixels. COCO runs go down
 * the columns (column-major), so a run is cut where it wraps into the next column.
 */
export function rlePath(size: [number, number], counts: string): MaskPath {
  const [h, w] = size;
  const runs = rleCounts(counts);
  const total = runs.reduce((a, b) => a + b, 0);
  if (runs.some((r) => r < 0) || total !== h * w) throw new Error(`RLE counts cover ${total} pixels, not ${h} × ${w} = ${h * w}.`);
  const parts: string[] = [];
  let area = 0;
  let pos = 0;
  for (let i = 0; i < runs.length; i++) {
    let len = runs[i];
    if (i % 2 === 1) {
      area += len;
      let start = pos;
      while (len > 0) {
        const x = Math.floor(start / h);
        const y = start % h;
        const piece = Math.min(len, h - y);
        parts.push(`M${x} ${y}h1v${piece}h-1z`);
        start += piece;
        len -= piece;
      }
    }
    pos += runs[i];
  }
  return { d: parts.join(''), area };
}
