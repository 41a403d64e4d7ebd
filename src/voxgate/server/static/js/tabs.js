// The ARIA tab pattern: one tab stop, arrow keys / Home / End move between tabs.

/** Wire `tabs` (role=tab, aria-controls) to their panels; `onShow(name)` after each change. */
export function wireTabs(tabs, panes, onShow = () => {}) {
  const show = (tab, focus = false) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
    }
    for (const pane of panes) pane.hidden = pane.id !== tab.getAttribute('aria-controls');
    if (focus) tab.focus();
    onShow(tab.dataset.tab);
  };
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener('click', () => show(tab));
    tab.addEventListener('keydown', (e) => {
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      show(tabs[(next + tabs.length) % tabs.length], true);
    });
  }
  return (name) => show(tabs.find((t) => t.dataset.tab === name) ?? tabs[0]);
}
