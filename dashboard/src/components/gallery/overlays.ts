// A row's annotations as shapes in the image's pixels, for the gallery's tiles and the inspector:
// boxes, oriented boxes (four corners), keypoints ([x, y, v, …] per object; v 0 absent, 1 hidden,
// 2 visible), instance masks as polygons or COCO RLE (decoded here, lib/rle.ts) and semantic masks
// (a label image drawn over the picture). docs/formats.md has the column types.
import type { Row } from '../../api/pager';
import type { ColumnInfo } from '../../api/types';
import { rlePath } from '../../lib/rle';

export const OVERLAY_ROLES = ['boxes', 'oriented_boxes', 'keypoints', 'instance_masks', 'semantic_mask'] as const;

export type Shape =
  | { kind: 'box'; x: number; y: number; w: number; h: number; predicted: boolean }
  | { kind: 'polygon'; points: string; predicted: boolean; role: 'oriented_boxes' | 'instance_masks' }
  | { kind: 'point'; x: number; y: number; hidden: boolean; predicted: boolean }
  | { kind: 'rle'; d: string; area: number; predicted: boolean }
  | { kind: 'image'; url: string; predicted: boolean }
  | { kind: 'problem'; text: string };

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const objects = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter((o): o is Record<string, unknown> => typeof o === 'object' && o !== null && !Array.isArray(o)) : []);
const flat = (v: unknown): number[] => (Array.isArray(v) ? v.map(num).filter((n): n is number => n !== null) : []);

function polygon(xy: number[]): string {
  const pts: string[] = [];
  for (let i = 0; i + 1 < xy.length; i += 2) pts.push(`${xy[i]},${xy[i + 1]}`);
  return pts.join(' ');
}

/** The shapes of `row` for the overlay `columns`; `predicted(c)` says whether c came from a model (drawn dashed). */
export function shapesOf(row: Row, columns: ColumnInfo[], predicted: (c: ColumnInfo) => boolean): Shape[] {
  const out: Shape[] = [];
  for (const c of columns) {
    const p = predicted(c);
    const v = row[c.name];
    if (c.role === 'boxes') {
      for (const b of objects(v)) {
        const [x0, y0, x1, y1] = [num(b.x0), num(b.y0), num(b.x1), num(b.y1)];
        if (x0 !== null && y0 !== null && x1 !== null && y1 !== null) out.push({ kind: 'box', x: x0, y: y0, w: x1 - x0, h: y1 - y0, predicted: p });
      }
    } else if (c.role === 'oriented_boxes') {
      for (const b of objects(v)) {
        const xy = [b.x0, b.y0, b.x1, b.y1, b.x2, b.y2, b.x3, b.y3].map(num);
        if (xy.every((n) => n !== null)) out.push({ kind: 'polygon', points: polygon(xy as number[]), predicted: p, role: 'oriented_boxes' });
      }
    } else if (c.role === 'keypoints') {
      for (const kp of Array.isArray(v) ? v : []) {
        const xyv = flat(kp);
        for (let i = 0; i + 2 < xyv.length; i += 3) if (xyv[i + 2] > 0) out.push({ kind: 'point', x: xyv[i], y: xyv[i + 1], hidden: xyv[i + 2] === 1, predicted: p });
      }
    } else if (c.role === 'instance_masks') {
      for (const m of objects(v)) {
        for (const poly of Array.isArray(m.polygons) ? m.polygons : []) {
          const xy = flat(poly);
          if (xy.length >= 6) out.push({ kind: 'polygon', points: polygon(xy), predicted: p, role: 'instance_masks' });
        }
        const size = flat(m.size);
        if (typeof m.counts === 'string' && size.length === 2) {
          try {
            out.push({ kind: 'rle', ...rlePath([size[0], size[1]], m.counts), predicted: p });
          } catch (e) {
            out.push({ kind: 'problem', text: `${c.name}: ${e instanceof Error ? e.message : String(e)}` });
          }
        }
      }
    } else if (c.role === 'semantic_mask' && typeof v === 'string' && v) {
      out.push({ kind: 'image', url: v, predicted: p });
    }
  }
  return out;
}
