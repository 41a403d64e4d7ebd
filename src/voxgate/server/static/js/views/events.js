// The raw event stream: newest first, filterable by type, each row expandable to its JSON.
import { clockTime, el } from '../util.js';

const LIMIT = 400;

function isDelta(type) {
  return type.endsWith('.delta');
}

/** Long base64 audio or images would swamp the view: show their size instead. */
function readable(event) {
  return JSON.stringify(
    event,
    (key, value) => (typeof value === 'string' && value.length > 160 && ['delta', 'audio', 'image_url'].includes(key) ? `<${value.length} base64 chars>` : value),
    2,
  );
}

export class EventsView {
  #rows = [];

  constructor(list, { filter, hideDeltas, count, empty = null }) {
    this.list = list;
    this.empty = empty; // "no event matches" when a filter hides them all
    this.filter = filter;
    this.hideDeltas = hideDeltas;
    this.count = count;
    filter.addEventListener('input', () => this.#applyFilter());
    hideDeltas.addEventListener('change', () => this.#applyFilter());
  }

  add(event, direction = 'in') {
    const type = String(event.type);
    const row = el('li', 'event');
    row.dataset.type = type;
    row.dataset.direction = direction;
    if (type === 'error') row.classList.add('error');
    else if (type.startsWith('voxgate.')) row.classList.add('voxgate');
    const head = el('button', 'event-head');
    head.type = 'button';
    head.append(el('time', null, clockTime()), el('span', 'event-dir', direction === 'in' ? '↓' : '↑'), el('code', null, type));
    head.addEventListener('click', () => {
      const open = row.classList.toggle('open');
      if (open && !row.querySelector('pre')) row.append(el('pre', 'event-json', readable(event)));
    });
    row.append(head);
    row.hidden = !this.#matches(row);
    this.list.prepend(row);
    this.#rows.push(row);
    while (this.#rows.length > LIMIT) this.#rows.shift().remove();
    this.#renderCount();
  }

  clear() {
    this.#rows = [];
    this.list.replaceChildren();
    this.#renderCount();
  }

  #matches(row) {
    const type = row.dataset.type;
    if (this.hideDeltas.checked && isDelta(type)) return false;
    const terms = this.filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    return terms.every((term) => (term.startsWith('-') ? !type.includes(term.slice(1)) : type.includes(term)));
  }

  #applyFilter() {
    for (const row of this.#rows) row.hidden = !this.#matches(row);
    this.#renderCount();
  }

  #renderCount() {
    const shown = this.#rows.filter((r) => !r.hidden).length;
    this.count.textContent = shown === this.#rows.length ? String(shown) : `${shown}/${this.#rows.length}`;
    if (!this.empty) return;
    const filter = this.filter.value.trim();
    this.empty.hidden = shown > 0;
    if (!this.#rows.length) this.empty.textContent = 'No events yet.';
    else if (filter) this.empty.textContent = `No event matches “${filter}”${this.hideDeltas.checked ? ' (deltas are hidden)' : ''}.`;
    else this.empty.textContent = 'Every event so far is a delta: untick “hide deltas” to see them.';
  }
}
