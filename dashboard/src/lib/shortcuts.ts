// Keyboard shortcuts: one table drives both the handlers' matching and the `?` cheat sheet.

export interface Shortcut {
  id: string;
  /** Alternatives separated by ' / ', chords joined by '+'. */
  keys: string;
  label: string;
  group: 'General' | 'Rows' | 'Editing' | 'Charts' | 'Runs';
}

export const SHORTCUTS: Shortcut[] = [
  { id: 'help', keys: '?', label: 'Show or hide this cheat sheet', group: 'General' },
  { id: 'theme', keys: 't', label: 'Switch dark / light theme', group: 'General' },
  { id: 'search', keys: '/', label: 'Search columns in the Filters panel', group: 'General' },
  { id: 'clear-filters', keys: 'x', label: 'Clear every filter', group: 'General' },
  { id: 'escape', keys: 'Esc', label: 'Close dialogs, then clear the selection', group: 'General' },
  { id: 'select-all', keys: 'Ctrl+A', label: 'Select every filtered row', group: 'Rows' },
  { id: 'down', keys: 'j / ↓', label: 'Next row', group: 'Rows' },
  { id: 'up', keys: 'k / ↑', label: 'Previous row', group: 'Rows' },
  { id: 'toggle', keys: 'Space', label: 'Add / remove the current row from the selection', group: 'Rows' },
  { id: 'edit', keys: 'e', label: 'Edit a value of the selected rows', group: 'Editing' },
  { id: 'delete', keys: 'Del', label: 'Mark the selected rows deleted', group: 'Editing' },
  { id: 'undo', keys: 'Ctrl+Z', label: 'Undo the last edit', group: 'Editing' },
  { id: 'redo', keys: 'Ctrl+Shift+Z / Ctrl+Y', label: 'Redo', group: 'Editing' },
  { id: 'pending', keys: 'p', label: 'Show the pending edits', group: 'Editing' },
  { id: 'commit', keys: 'Ctrl+S', label: 'Commit the pending edits as a new revision', group: 'Editing' },
  { id: 'charts', keys: '1 … 8', label: '2D, 3D, histogram, curves, trajectory, image, confusion, issues', group: 'Charts' },
  { id: 'gallery', keys: 'g', label: 'Rows as a grid / a gallery of large tiles', group: 'Rows' },
  { id: 'page', keys: '← → ↑ ↓ / PgUp PgDn', label: 'Move through the gallery (Shift adds to the selection)', group: 'Rows' },
  { id: 'relabel', keys: '0 … 9', label: 'Gallery with a selection, or the inspector (Image) clicked: set that label (or click the palette)', group: 'Editing' },
  { id: 'accept', keys: 'a', label: 'Accept the prediction as the label of the selected samples', group: 'Editing' },
  { id: 'weight', keys: 'w', label: 'Weight 0 for the selected samples (again: back to 1)', group: 'Editing' },
  { id: 'lasso', keys: 'l', label: 'Lasso mode in the 2D or 3D scatter (or hold Shift and drag)', group: 'Charts' },
  { id: 'reset', keys: 'r', label: 'Reset the chart view (or double-click it)', group: 'Charts' },
  { id: 'rotate', keys: '← / →', label: 'Rotate the 3D view (or drag it)', group: 'Charts' },
  { id: 'epoch', keys: '[ / ]', label: 'Previous / next epoch', group: 'Runs' },
];

const NOT_TEXT = new Set(['checkbox', 'radio', 'range', 'button', 'submit', 'reset', 'color', 'file']);
const SELECT_KEYS = new Set(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Enter', ' ', 'Home', 'End', 'PageUp', 'PageDown']);

/**
 * True when a key event belongs to the control that has focus: a text field types every key, a
 * select uses the keys that move its choice. A checkbox, a slider or a select keep the other
 * shortcuts alive (after ticking a filter box, `x` still clears the filters).
 */
export function typing(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  if (tag === 'INPUT') {
    const type = (t as HTMLInputElement).type;
    if (type === 'range') return SELECT_KEYS.has(e.key);
    return !NOT_TEXT.has(type) || e.key === ' ';
  }
  if (tag === 'SELECT') return SELECT_KEYS.has(e.key);
  return tag === 'TEXTAREA' || t.isContentEditable;
}

export function mod(e: KeyboardEvent): boolean {
  return e.ctrlKey || e.metaKey;
}
