// Windowing over the service's paged rows, shared by the grid (one row per line) and the gallery
// (rows of tiles): only the lines on screen exist in the page, pages load as they scroll into
// view, and past MAX_PX the scroll range is scaled, since browsers cap an element's height — so a
// million rows scroll like a thousand.
import { onDestroy } from 'svelte';
import type { RowPager, Row } from '../api/pager';

const MAX_PX = 8_000_000;

/** The layout of the lines, read on every use (it follows the panel's size and the tile size). */
export interface Shape {
  /** Height of one line in px. */
  lineH: number;
  /** Items per line (1 in the grid). */
  perLine: number;
  /** Px above the lines that scroll with them (the grid's sticky header). */
  header: number;
  /** Px below the last line. */
  pad: number;
  /** Lines loaded beyond the visible ones, each way. */
  overscan: number;
}

export interface Slot {
  index: number;
  row: Row | undefined;
}

export class Windowed {
  // Read lazily by the $derived fields below (it is set in the constructor, after they are declared).
  private shape: () => Shape = () => ({ lineH: 1, perLine: 1, header: 0, pad: 0, overscan: 0 });
  pager = $state.raw<RowPager | null>(null);
  /** Bumped when the pager has new rows (the pager itself is not reactive). */
  version = $state(0);
  total = $state<number | null>(null);
  /** The pager's error, copied on each change. */
  failure = $state<string | null>(null);
  scroller = $state<HTMLElement>();
  viewH = $state(400);
  scrollTop = $state(0);
  private frame = 0;

  readonly n = $derived(this.total ?? 0);
  readonly bodyH = $derived(Math.max(0, this.viewH - this.shape().header));
  readonly lines = $derived(Math.ceil(this.n / this.shape().perLine));
  readonly realPx = $derived(this.lines * this.shape().lineH + this.shape().pad);
  readonly virtPx = $derived(Math.min(this.realPx, MAX_PX));
  /** Real px per scrolled px (1 unless the range is scaled). */
  readonly ratio = $derived(this.virtPx > this.bodyH && this.realPx > this.virtPx ? (this.realPx - this.bodyH) / (this.virtPx - this.bodyH) : 1);
  /** The real px at the top of the window. */
  readonly y = $derived(this.scrollTop * this.ratio);
  readonly firstLine = $derived(Math.max(0, Math.floor(this.y / this.shape().lineH)));
  /** How far the first line is scrolled out of view. */
  readonly offset = $derived(this.y - this.firstLine * this.shape().lineH);
  readonly visibleLines = $derived(Math.ceil(this.bodyH / this.shape().lineH) + 1);
  readonly first = $derived(this.firstLine * this.shape().perLine);
  readonly last = $derived(Math.min(this.n, (this.firstLine + this.visibleLines) * this.shape().perLine));
  readonly slots = $derived.by<Slot[]>(() => {
    void this.version;
    const out: Slot[] = [];
    const p = this.pager;
    if (!p) return out;
    for (let i = this.first; i < this.last; i++) out.push({ index: i, row: p.row(i) });
    return out;
  });

  /** Call during component setup. `onRows` sees the loaded rows on screen after each change. */
  constructor(
    shape: () => Shape,
    onRows: (rows: Row[]) => void,
  ) {
    this.shape = shape;
    $effect(() => {
      const s = this.shape();
      const ahead = s.overscan * s.perLine;
      this.pager?.ensure(Math.max(0, this.first - ahead), this.last + ahead);
    });
    $effect(() => {
      const rows = this.slots.map((s) => s.row).filter((r): r is Row => Boolean(r));
      if (rows.length) onRows(rows);
    });
    onDestroy(() => cancelAnimationFrame(this.frame));
  }

  /** Shows `pager` from the top, loading its first `initial` rows; returns the cleanup for an $effect. */
  attach(pager: RowPager, initial: number): () => void {
    const off = pager.onChange(() => {
      this.total = pager.total;
      this.failure = pager.error;
      this.version += 1;
    });
    this.pager = pager;
    this.total = null;
    this.failure = null;
    this.scroller?.scrollTo({ top: 0 });
    this.scrollTop = 0;
    pager.ensure(0, initial);
    return () => {
      off();
      pager.dispose();
    };
  }

  /** The scroll handler: one read of scrollTop per animation frame. */
  onScroll = (): void => {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.scroller) this.scrollTop = this.scroller.scrollTop;
    });
  };

  /** Scrolls so the line of item `index` is in view (d > 0: it lands at the bottom, else the top). */
  reveal(index: number, d: number): void {
    const s = this.shape();
    const top = Math.floor(index / s.perLine) * s.lineH;
    if (top >= this.y && top + s.lineH <= this.y + this.bodyH) return;
    const target = Math.max(0, (d > 0 ? top + s.lineH - this.bodyH + s.pad : top) / this.ratio);
    this.scroller?.scrollTo({ top: target });
    this.scrollTop = target;
  }
}
