// A page has one connection. When it comes back after the service restarted, everything on
// screen must load again: every Resource and the grid read `generation()` where they track their
// inputs, so one bump re-requests exactly what is mounted (what is not on screen has no effect
// left to re-run, and loads fresh when it is shown).
let current = $state(0);

export function generation(): number {
  return current;
}

export function refetchAll(): void {
  current += 1;
}
