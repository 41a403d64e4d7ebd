// Joining a conversation already under way (the Copy link, another device): what was said before
// this page came, from the store (GET /api/conversations/{id}), shown as earlier turns.
import { authHeaders } from './auth.js';
import { compactJson, debug } from './util.js';

/**
 * The history API's items as the conversation's entries, in order: a bubble (`role`, `id`,
 * `text`) per message with text, and a note (`key`, `kind`, `text`, `state`) per tool call,
 * handoff and background-run line. A call's output, or a run's end, updates its line (`key`), as
 * the live events do.
 */
export function storedEntries(items) {
  const entries = [];
  const keyed = new Map(); // call_id / run_id -> its note
  const note = (key, kind, text, state = '') => {
    const known = key ? keyed.get(key) : null;
    if (known) return Object.assign(known, { kind, text, state });
    const entry = { key, kind, text, state };
    if (key) keyed.set(key, entry);
    entries.push(entry);
    return entry;
  };
  for (const item of items ?? []) {
    const data = item.data ?? {};
    const text = (item.text ?? '').trim();
    if (item.type === 'message' && (item.role === 'user' || item.role === 'assistant')) {
      if (text) entries.push({ role: item.role === 'user' ? 'user' : 'agent', id: item.item_id ?? data.id ?? null, text });
    } else if (item.type === 'function_call') {
      const entry = note(data.call_id, 'tool', `${data.name}(${compactJson(data.arguments)}) …`, 'running');
      entry.call = `${data.name}(${compactJson(data.arguments)})`;
    } else if (item.type === 'function_call_output') {
      const call = keyed.get(data.call_id);
      if (call?.call) note(data.call_id, 'tool', `${call.call} → ${compactJson(text)}`);
    } else if (item.type === 'handoff' && text) {
      note(null, 'handoff', text);
    } else if (item.type === 'run') {
      const task = keyed.get(data.run_id)?.task ?? '';
      if (data.status === 'started') {
        note(data.run_id, 'run', `${data.agent}: started${text ? ` — “${text}”` : ''}`, 'running').task = text;
      } else if (data.status) {
        const [status, ...error] = text.split(': '); // "failed: why" (the live line: "failed (why)")
        const why = error.length ? ` (${error.join(': ')})` : '';
        note(data.run_id, 'run', `${data.agent}: ${status}${why}${task ? ` — “${task}”` : ''}`, status === 'failed' ? 'failed' : '');
      } else if (text) {
        note(null, 'run', `${data.source ?? data.agent}: ${text}`);
      }
    }
  }
  return entries;
}

/**
 * Loads the conversation so far, once, for a page that connects with no transcript on screen to
 * a session others are already in (voxgate.participant.joined lists them). The store writes in
 * batches, so the newest turn may not be in it yet: what arrives live afterwards is shown as
 * usual, and an item is never shown twice (the conversation matches items by id). A 404 or 403
 * (no store, or not this key's conversation) changes nothing.
 */
export class CatchUp {
  #armed = null; // the session id to load, set at a connect with nothing on screen
  #loading = 0; // bumps on every arm/cancel; a late answer for an older one is dropped

  constructor(conversation) {
    this.conversation = conversation;
  }

  /** A connection's session.created: load its past at the join if nothing is shown yet. */
  arm(sessionId) {
    this.#loading++;
    this.#armed = this.conversation.isEmpty ? sessionId : null;
  }

  cancel() {
    this.#loading++;
    this.#armed = null;
  }

  /** This page's own voxgate.participant.joined: others already here means a past to load. */
  joined(event) {
    const sessionId = this.#armed;
    if (!event.you || !sessionId) return;
    this.#armed = null;
    const me = event.participant?.id;
    if (!(event.participants ?? []).some((p) => p.id !== me)) return; // a new conversation
    this.#load(sessionId, this.#loading);
  }

  async #load(sessionId, loading) {
    let response;
    try {
      response = await fetch(`/api/conversations/${encodeURIComponent(sessionId)}`, { headers: authHeaders() });
    } catch {
      response = null;
    }
    if (loading !== this.#loading) return;
    if (response?.ok) {
      const conversation = await response.json().catch(() => null);
      if (loading !== this.#loading || !conversation) return;
      const shown = this.conversation.earlier(storedEntries(conversation.items));
      debug.caughtUp = shown;
      return;
    }
    if (response && (response.status === 404 || response.status === 403)) return; // nothing of ours stored
    const why = response ? await response.json().then((j) => j.error?.message, () => null) : null;
    this.conversation.note('catch-up', 'catch-up', `The conversation so far could not be loaded: ${why ?? 'the server could not be reached'}.`, 'failed');
  }
}
