// Fetches a scatter's points, decodes the Arrow answer and makes its typed arrays off the page's
// thread: a page busy drawing its grid and panels would otherwise read a 20 MB answer slowly (a
// window's fetch body is read on its main thread) and then spend ~300 ms on it. The arrays come
// back transferred, not copied. Asked by ServiceClient.pointRows; the token travels in the
// message and the Authorization header, never in a URL.
import { tableFromIPC } from 'apache-arrow';
import { pointArrays, type PointArrays, type PointColumns } from './point-arrays';

export interface PointsAsk {
  id: number;
  url: string;
  token: string;
  body: string;
  cols: PointColumns;
}

export type PointsAnswer =
  /** received: when the whole answer was in, ms since the epoch (the page marks it). */
  | { id: number; ok: true; points: PointArrays; total: number; bytes: number; received: number }
  | { id: number; ok: false; status: number; body: string };

/** Its own buffer, so each array is transferred once (zero-copy views share the answer's). */
function own<T extends Float32Array | Float64Array | Int32Array>(a: T, seen: Set<ArrayBufferLike>): T {
  if (seen.has(a.buffer) || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) a = a.slice() as T;
  seen.add(a.buffer);
  return a;
}

self.onmessage = async (e: MessageEvent<PointsAsk>) => {
  const { id, url, token, body, cols } = e.data;
  const post = (answer: PointsAnswer, transfer: ArrayBuffer[] = []) => (self as unknown as Worker).postMessage(answer, transfer);
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response: Response;
  let buffer: ArrayBuffer;
  try {
    response = await fetch(url, { method: 'POST', headers, body });
    if (!response.ok) return post({ id, ok: false, status: response.status, body: await response.text() });
    buffer = await response.arrayBuffer();
  } catch {
    return post({ id, ok: false, status: 0, body: '' }); // no answer at all: unreachable
  }
  const received = performance.timeOrigin + performance.now();
  try {
    const t = tableFromIPC(new Uint8Array(buffer));
    const p = pointArrays(t, cols, true);
    const seen = new Set<ArrayBufferLike>();
    const points: PointArrays = {
      ...p,
      ids: own(p.ids, seen),
      x: own(p.x, seen),
      y: own(p.y, seen),
      z: p.z && own(p.z, seen),
      color: p.color instanceof Float64Array ? own(p.color, seen) : p.color,
      size: p.size && own(p.size, seen),
      dense: p.dense && own(p.dense, seen),
    };
    const total = Number(response.headers.get('X-Total-Count') ?? t.numRows);
    post({ id, ok: true, points, total, bytes: buffer.byteLength, received }, [...seen] as ArrayBuffer[]);
  } catch (err) {
    const detail = `The points answer could not be read: ${err instanceof Error ? err.message : String(err)}`;
    post({ id, ok: false, status: 500, body: JSON.stringify({ detail }) });
  }
};
