// The conversation pane: user and agent bubbles, one per conversation item (keyed by item_id).
import { el } from '../util.js';

/** Thumbnails of the pictures a user message carries (an echo without its data: a placeholder). */
function withImages(bubble, urls) {
  if (!urls.length) return bubble;
  const box = el('div', 'bubble-images');
  for (const url of urls) {
    if (!url) {
      box.append(el('span', 'bubble-image-missing', '[picture]'));
      continue;
    }
    const img = el('img', 'bubble-image');
    img.src = url;
    img.alt = 'A picture sent with this message';
    img.dataset.testid = 'bubble-image';
    box.append(img);
  }
  bubble.querySelector('.bubble-text').before(box);
  return bubble;
}

/**
 * Conversation bubbles, one per conversation item (keyed by item_id). Typed user messages are
 * shown at once without an id and adopt it when the server echoes the item back.
 */
export class ConversationView {
  #items = new Map(); // item_id -> <li>
  #notes = new Map(); // call_id / run_id -> <li>
  #forgotten = new Map(); // item_id -> <li> of a conversation the server had to start again
  #restoredText = ''; // the divider's words once the new session restores what was forgotten

  #thinking = null; // the agent's placeholder bubble while it thinks

  /** `announcer`: a polite live region that reads whole utterances, never streamed chunks. */
  constructor(list, { announcer = null, onChange = () => {} } = {}) {
    this.list = list;
    this.announcer = announcer;
    this.onChange = onChange;
  }

  clear() {
    this.#items.clear();
    this.#notes.clear();
    this.#forgotten.clear();
    this.#thinking = null;
    this.list.replaceChildren();
    this.onChange();
  }

  get isEmpty() {
    return this.list.childElementCount === 0;
  }

  /** A placeholder "…" bubble for the agent's reply; its first words replace it. */
  agentThinking(on) {
    if (on && !this.#thinking) {
      this.#thinking = this.#bubble('agent', null, '…', 'thinking');
      this.#thinking.classList.remove('agent'); // styled as one, but not the agent's words yet
      this.#thinking.dataset.role = 'placeholder';
      this.#thinking.dataset.testid = 'thinking';
      this.#thinking.setAttribute('aria-label', 'The agent is thinking');
      this.#append(this.#thinking);
    } else if (!on && this.#thinking) {
      this.#thinking.remove();
      this.#thinking = null;
    }
  }

  /**
   * Everything shown so far belongs to a conversation the server no longer has (it restarted,
   * or the session ended): dim it and say so, rather than pretend the agent remembers it.
   */
  forget(text, restoredText) {
    if (this.isEmpty) return;
    for (const node of this.list.children) node.classList.add('forgotten');
    this.#forgotten = new Map(this.#items);
    this.#restoredText = restoredText;
    this.#items.clear();
    this.#notes.clear();
    this.note('forgotten', 'divider', text);
  }

  /** A forgotten bubble the new session's restored history brings back (its item id). */
  #restore(itemId) {
    const bubble = this.#forgotten.get(itemId);
    if (!bubble) return null;
    this.#forgotten.delete(itemId);
    bubble.classList.remove('forgotten');
    this.#items.set(itemId, bubble);
    if (this.#restoredText) this.note('forgotten', 'divider', this.#restoredText);
    this.#restoredText = '';
    return bubble;
  }

  /** A whole assistant item (a restored conversation's): its text, once. */
  agentItem(item) {
    const part = item.content?.find((p) => p.type === 'output_text' || p.type === 'output_audio');
    const text = part?.text ?? part?.transcript;
    if (!text || this.#items.has(item.id)) return;
    if (this.#restore(item.id)) return;
    this.#append(this.#bubble('agent', item.id, text));
  }

  /**
   * What was said before this page joined (the store's items, as catch-up.js makes them), above
   * everything shown since; an item or note already on screen is skipped. Returns how many
   * were added.
   */
  earlier(entries) {
    const nodes = [];
    for (const entry of entries) {
      if (entry.role) {
        if (entry.id && (this.#items.has(entry.id) || this.#forgotten.has(entry.id))) continue;
        nodes.push(this.#bubble(entry.role, entry.id, entry.text));
      } else if (!entry.key || !this.#notes.has(entry.key)) {
        const line = this.#noteLine(entry.key);
        this.#fillNote(line, entry.kind, entry.text, entry.state);
        nodes.push(line);
      }
    }
    for (const node of nodes) node.dataset.earlier = '';
    if (nodes.length) this.#update(() => this.list.prepend(...nodes));
    this.onChange();
    return nodes.length;
  }

  #announce(who, text) {
    if (this.announcer && text) this.announcer.textContent = `${who}: ${text}`;
  }

  /** The user started speaking: a "…" placeholder until the transcript arrives. */
  userSpeaking(itemId) {
    if (!itemId || this.#items.has(itemId)) return;
    this.#append(this.#bubble('user', itemId, '…', 'pending'));
  }

  userCommitted(itemId) {
    this.userSpeaking(itemId); // manual commits come without speech_started
    this.#items.get(itemId)?.setAttribute('data-committed', '');
  }

  userTranscript(itemId, transcript) {
    // an empty transcript: VAD heard noise, not words
    const text = (transcript ?? '').trim();
    this.#finalize('user', itemId, text, 'pending');
    this.#announce('You said', text);
  }

  userTranscriptionFailed(itemId) {
    const bubble = this.#items.get(itemId);
    if (!bubble) return;
    this.#setText(bubble, 'transcription failed');
    bubble.classList.remove('pending');
    bubble.classList.add('failed');
  }

  /** Shown immediately; adopted by the matching conversation.item.added. */
  userTyped(text, images = []) {
    const bubble = withImages(this.#bubble('user', null, text, 'sending'), images);
    bubble.dataset.local = 'pending';
    this.#append(bubble);
  }

  /** A user item from conversation.item.added / .done (typed here, by another client, or audio). */
  userItem(item) {
    const typed = item.content?.find((part) => part.type === 'input_text');
    const images = (item.content ?? []).filter((part) => part.type === 'input_image').map((part) => part.image_url);
    if (typed || images.length) {
      const text = typed?.text ?? '';
      const existing = this.#items.get(item.id) ?? this.#restore(item.id) ?? this.#adoptTyped(item.id, text, images.length > 0);
      if (existing) this.#setText(existing, text);
      else this.#append(withImages(this.#bubble('user', item.id, text), images));
      return;
    }
    // transcript is null until transcribed; a string (maybe empty) once it is.
    const audio = item.content?.find((part) => part.type === 'input_audio');
    if (typeof audio?.transcript === 'string') this.userTranscript(item.id, audio.transcript);
    else if (audio) this.userSpeaking(item.id);
  }

  #adoptTyped(itemId, text, images = false) {
    const bubble = [...this.list.querySelectorAll('[data-local="pending"]')].find(
      (b) => b.querySelector('.bubble-text').textContent === text && !!b.querySelector('.bubble-images') === images,
    );
    if (!bubble) return null;
    delete bubble.dataset.local;
    bubble.classList.remove('sending');
    bubble.dataset.itemId = itemId;
    this.#items.set(itemId, bubble);
    return bubble;
  }

  /** Drop "…" placeholders of speech that was never committed (input buffer cleared). */
  dropUncommitted() {
    for (const [itemId, bubble] of this.#items) {
      if (bubble.classList.contains('pending') && !bubble.hasAttribute('data-committed')) this.remove(itemId);
    }
  }

  /**
   * A recorded clip on its way (record-and-send: no events, one answer): a "…" bubble; the
   * function returned settles it with the transcript, or removes it (null: not sent).
   */
  recording() {
    const bubble = this.#append(this.#bubble('user', null, '…', 'pending'));
    bubble.dataset.testid = 'recorded';
    return (transcript) => {
      const text = (transcript ?? '').trim();
      if (!text) {
        bubble.remove();
        this.onChange();
        return;
      }
      this.#setText(bubble, text);
      bubble.classList.remove('pending');
      this.#announce('You said', text);
    };
  }

  /** The agent's whole reply at once (record-and-send). */
  agentSaid(text) {
    const said = (text ?? '').trim();
    if (!said) return;
    this.agentThinking(false);
    this.#append(this.#bubble('agent', null, said));
    this.#announce('Agent', said);
  }

  agentDelta(itemId, delta) {
    if (!itemId || !delta) return;
    if (!this.#items.has(itemId)) this.agentThinking(false);
    this.#update(() => {
      const bubble = this.#items.get(itemId) ?? this.#append(this.#bubble('agent', itemId, '', 'streaming'));
      bubble.querySelector('.bubble-text').append(delta);
    });
  }

  /**
   * Final text of an agent item. After a barge-in it is cut to the words the user heard,
   * which is what the model remembers; nothing heard means no bubble.
   */
  agentDone(itemId, text) {
    if (typeof text !== 'string') return;
    this.#finalize('agent', itemId, text, 'streaming');
    this.#announce('Agent', text.trim());
  }

  /** Final text of an item's bubble (made if missing); empty text removes the bubble. */
  #finalize(role, itemId, text, liveClass) {
    if (!text.trim()) {
      this.remove(itemId);
      return;
    }
    this.#update(() => {
      if (role === 'agent' && !this.#items.has(itemId)) this.agentThinking(false);
      const bubble = this.#items.get(itemId) ?? this.#append(this.#bubble(role, itemId));
      this.#setText(bubble, text);
      bubble.classList.remove(liveClass);
    });
  }

  markInterrupted(itemId) {
    const bubble = this.#items.get(itemId);
    if (!bubble || bubble.classList.contains('interrupted')) return;
    bubble.classList.remove('streaming');
    bubble.classList.add('interrupted');
    bubble.append(el('span', 'badge', 'interrupted'));
  }

  /**
   * A line about what the agent does rather than says (a tool call, a handoff, a background
   * run, a reconnect); `key` lets a later event update it (a call's result replaces its
   * "running" line).
   */
  note(key, kind, text, state = '') {
    this.#update(() => {
      const line = (key ? this.#notes.get(key) : null) ?? this.#append(this.#noteLine(key));
      this.#fillNote(line, kind, text, state);
    });
  }

  #noteLine(key) {
    const line = el('li', 'note');
    line.dataset.testid = 'note';
    line.dataset.role = 'note';
    if (key) this.#notes.set(key, line);
    return line;
  }

  #fillNote(line, kind, text, state) {
    line.className = `note ${kind} ${state}`.trim();
    line.dataset.kind = kind;
    line.textContent = text;
  }

  remove(itemId) {
    this.#items.get(itemId)?.remove();
    this.#items.delete(itemId);
    this.onChange();
  }

  #bubble(role, itemId, text = '', state = '') {
    const bubble = el('li', `bubble ${role} ${state}`.trim());
    bubble.dataset.role = role;
    if (itemId) {
      bubble.dataset.itemId = itemId;
      this.#items.set(itemId, bubble);
    }
    bubble.append(el('span', 'bubble-who', role === 'user' ? 'You' : 'Agent'), el('p', 'bubble-text', text));
    return bubble;
  }

  #setText(bubble, text) {
    bubble.querySelector('.bubble-text').textContent = text;
  }

  #append(bubble) {
    this.#update(() => this.list.append(bubble));
    this.onChange();
    return bubble;
  }

  /** Apply a change, keeping the view pinned to the bottom if the reader was there. */
  #update(change) {
    const list = this.list;
    const pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    change();
    if (pinned) list.scrollTop = list.scrollHeight;
  }
}
