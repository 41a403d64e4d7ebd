// Readable errors, newest first, the last few only.
import { el } from '../util.js';

const ERROR_LIMIT = 5;

/** Readable errors, newest first, the last few only. */
export class ErrorView {
  constructor(box, limit = ERROR_LIMIT) {
    this.box = box;
    this.limit = limit;
  }

  add(message, code) {
    const row = el('div', 'error-row');
    row.append(el('span', 'error-message', message));
    if (code) row.append(el('code', 'error-code', code));
    const dismiss = el('button', 'error-dismiss', '×');
    dismiss.type = 'button';
    dismiss.setAttribute('aria-label', 'Dismiss error');
    dismiss.addEventListener('click', () => row.remove());
    row.append(dismiss);
    this.box.prepend(row);
    while (this.box.childElementCount > this.limit) this.box.lastElementChild.remove();
  }

  clear() {
    this.box.replaceChildren();
  }
}
