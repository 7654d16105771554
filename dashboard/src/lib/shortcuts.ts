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
  { id: 'charts', keys: '1 … 7', label: '2D, 3D, histogram, curves, trajectory, image, confusion', group: 'Charts' },
  { id: 'lasso', keys: 'l', label: 'Lasso mode in the 2D scatter (or hold Shift and drag)', group: 'Charts' },
  { id: 'reset', keys: 'r', label: 'Reset the chart view (or double-click it)', group: 'Charts' },
  { id: 'rotate', keys: '← / →', label: 'Rotate the 3D view (or drag it)', group: 'Charts' },
  { id: 'epoch', keys: '[ / ]', label: 'Previous / next epoch', group: 'Runs' },
];

/** True when a key event comes from a text field, where plain letters must type. */
export function typing(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || t.isContentEditable;
}

export function mod(e: KeyboardEvent): boolean {
  return e.ctrlKey || e.metaKey;
}
