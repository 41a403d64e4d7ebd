// Plain-language banners, newest first, the last few only; a banner may carry one action.
import { el } from '../util.js';

const ERROR_LIMIT = 5;

/**
 * `add(message, code, {key, action, detail})`: a banner with the same `key` is replaced, not
 * stacked (a reconnect's countdown updates one banner); `clear(key)` drops that one only.
 */
export class ErrorView {
  constructor(box, limit = ERROR_LIMIT) {
    this.box = box;
    this.limit = limit;
  }

  add(message, code, { key = null, action = null, detail = null } = {}) {
    const row = el('div', 'error-row');
    if (key) row.dataset.key = key;
    row.append(el('span', 'error-message', message));
    if (code) row.append(el('code', 'error-code', code));
    if (detail) row.title = detail;
    if (action) {
      const button = el('button', 'error-action', action.label);
      button.type = 'button';
      button.dataset.testid = action.testid ?? 'error-action';
      button.addEventListener('click', action.run);
      row.append(button);
    }
    const dismiss = el('button', 'error-dismiss', '×');
    dismiss.type = 'button';
    dismiss.setAttribute('aria-label', 'Dismiss this message');
    dismiss.addEventListener('click', () => row.remove());
    row.append(dismiss);
    const old = key ? this.box.querySelector(`[data-key="${key}"]`) : null;
    if (old) old.replaceWith(row);
    else this.box.prepend(row);
    while (this.box.childElementCount > this.limit) this.box.lastElementChild.remove();
  }

  clear(key = null) {
    if (key) this.box.querySelector(`[data-key="${key}"]`)?.remove();
    else this.box.replaceChildren();
  }
}
