// The History pane: past conversations from the server's store (GET /api/conversations), one
// opened with its items, exported, deleted, or resumed (the page connects to its id and the
// server gives the new session its history).
import { authHeaders } from '../auth.js';
import { el } from '../util.js';

const WHO = { user: 'You', assistant: 'Agent', system: 'System' };
const LABELS = {
  function_call: 'Tool call',
  function_call_output: 'Tool result',
  handoff: 'Handoff',
  run: 'Background run',
  summary: 'Summary',
};

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers ?? {}) } });
  if (!response.ok) {
    const detail = await response.json().then((j) => j.error?.message ?? j.detail, () => null);
    throw new Error(typeof detail === 'string' ? detail : `the server answered HTTP ${response.status}`);
  }
  return response;
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** `ui`: the pane's elements; `onResume(id)` connects the page to a conversation. */
export class HistoryView {
  #cursor = null;
  #query = '';
  #timer = null;
  #open = null; // the conversation shown in the detail
  #loading = 0;

  constructor(ui, { onResume }) {
    this.ui = ui;
    this.onResume = onResume;
    ui.search.addEventListener('submit', (e) => {
      e.preventDefault();
      clearTimeout(this.#timer);
      this.#load(true);
    });
    ui.query.addEventListener('input', () => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#load(true), 300);
    });
    ui.more.addEventListener('click', () => this.#load(false));
    ui.back.addEventListener('click', () => this.#close());
    ui.resume.addEventListener('click', () => this.#open && this.onResume(this.#open.id));
    ui.remove.addEventListener('click', () => this.#delete());
    ui.exportText.addEventListener('click', () => this.#export('text'));
    ui.exportJson.addEventListener('click', () => this.#export('json'));
  }

  /** The first page again (the pane was shown, or the search changed). */
  refresh() {
    this.#close();
    return this.#load(true);
  }

  async #load(first) {
    const loading = ++this.#loading;
    if (first) {
      this.#query = this.ui.query.value.trim();
      this.#cursor = null;
    }
    const params = new URLSearchParams({ limit: '20' });
    if (this.#query) params.set('q', this.#query);
    if (this.#cursor) params.set('cursor', this.#cursor);
    this.#status('Loading…');
    try {
      const page = await (await api(`/api/conversations?${params}`)).json();
      if (loading !== this.#loading) return; // a newer search is on its way
      if (first) this.ui.list.replaceChildren();
      for (const conversation of page.data) this.ui.list.append(this.#row(conversation));
      this.#cursor = page.next_cursor ?? null;
      this.ui.more.hidden = !page.has_more;
      const empty = this.ui.list.childElementCount === 0;
      this.#status(empty ? (this.#query ? `Nothing matches “${this.#query}”.` : 'No past conversations yet.') : '');
    } catch (err) {
      if (loading === this.#loading) this.#status(`Could not load the history: ${err.message}`);
    }
  }

  #status(text) {
    this.ui.empty.textContent = text;
    this.ui.empty.hidden = !text;
  }

  #row(conversation) {
    const item = el('li', 'history-row');
    item.dataset.testid = 'history-row';
    item.dataset.id = conversation.id;
    const open = el('button', 'history-open');
    open.type = 'button';
    open.append(el('span', 'history-title', conversation.title || 'Untitled conversation'));
    const meta = [when(conversation.updated_at), conversation.agent, conversation.transport].filter(Boolean).join(' · ');
    open.append(el('span', 'history-meta', meta));
    if (conversation.live) open.append(el('span', 'badge live', 'live'));
    open.addEventListener('click', () => this.open(conversation.id));
    item.append(open);
    return item;
  }

  /** Show one conversation's items. */
  async open(id) {
    try {
      const conversation = await (await api(`/api/conversations/${encodeURIComponent(id)}`)).json();
      this.#open = conversation;
      this.ui.title.textContent = conversation.title || 'Untitled conversation';
      this.ui.items.replaceChildren(...conversation.items.map((i) => this.#item(i)));
      this.ui.detail.hidden = false;
      this.ui.listBox.hidden = true;
      this.ui.message.textContent = '';
      this.ui.back.focus();
    } catch (err) {
      this.#status(`Could not open the conversation: ${err.message}`);
    }
  }

  #item(item) {
    const line = el('li', `history-item ${item.type} ${item.role ?? ''}`.trim());
    line.dataset.testid = 'history-item';
    const who = item.type === 'message' ? WHO[item.role] ?? item.role : LABELS[item.type] ?? item.type;
    line.append(el('span', 'history-who', who), el('span', 'history-text', item.text || '—'));
    return line;
  }

  #close() {
    this.#open = null;
    this.ui.detail.hidden = true;
    this.ui.listBox.hidden = false;
  }

  async #delete() {
    const conversation = this.#open;
    if (!conversation || !confirm(`Delete “${conversation.title || conversation.id}” for good?`)) return;
    try {
      await api(`/api/conversations/${encodeURIComponent(conversation.id)}`, { method: 'DELETE' });
      await this.refresh();
    } catch (err) {
      this.ui.message.textContent = `Not deleted: ${err.message}`;
    }
  }

  /** A download made from a fetch (a link could not carry the key). */
  async #export(format) {
    const conversation = this.#open;
    if (!conversation) return;
    try {
      const path = `/api/conversations/${encodeURIComponent(conversation.id)}/export?format=${format}`;
      const blob = await (await api(path)).blob();
      const link = el('a');
      link.href = URL.createObjectURL(blob);
      link.download = `${conversation.id}.${format === 'text' ? 'txt' : 'json'}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (err) {
      this.ui.message.textContent = `Not exported: ${err.message}`;
    }
  }
}
