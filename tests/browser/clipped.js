// Every visible control whose box leaves the viewport, or leaves an ancestor that clips it
// without letting the person scroll to it (overflow hidden; a scrolling list may hide controls).
// Evaluated by Playwright as a function (the page's CSP forbids eval of strings).
() => {
  const out = [];
  const W = innerWidth, H = innerHeight;
  for (const el of document.querySelectorAll('button, select, input, a, [role=tab]')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    // rows of the virtual lists are cut at the edge on purpose: they scroll
    if (el.closest('[data-testid="grid"], [data-testid="gallery"]')) continue;
    const name = (el.dataset.testid || el.getAttribute('aria-label') || el.textContent || el.tagName).trim().slice(0, 40);
    let scrolls = false;
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflow === 'visible' && s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const canScroll = (o) => o === 'auto' || o === 'scroll';
      if ((canScroll(s.overflowX) && a.scrollWidth > a.clientWidth + 1) || (canScroll(s.overflowY) && a.scrollHeight > a.clientHeight + 1)) { scrolls = true; break; }
      const b = a.getBoundingClientRect();
      if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1) {
        out.push(`${name}: clipped by ${a.className || a.tagName}`);
        break;
      }
    }
    if (!scrolls && (r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1)) out.push(`${name}: outside the window`);
  }
  return [...new Set(out)];
}
