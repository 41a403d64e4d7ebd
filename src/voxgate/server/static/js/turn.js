// Whose turn it is: listening → thinking (with the time waited) → speaking → idle.
import { debug, el } from './util.js';

const LABELS = { idle: '', listening: 'Listening', thinking: 'Thinking', speaking: 'Agent speaking' };
const TICK_MS = 100;

/** What a screen reader hears as the turn changes (null: nothing worth saying). */
function spoken(from, to, outcome) {
  if (to !== 'idle') return { listening: 'Listening.', thinking: 'The agent is thinking.', speaking: 'The agent is speaking.' }[to];
  if (outcome === 'cancelled') return 'Reply cancelled.';
  if (outcome === 'failed') return 'The reply failed.';
  if (outcome === 'incomplete') return 'The reply stopped early.';
  return from === 'thinking' || from === 'speaking' ? 'Your turn.' : null; // (a cough: nothing)
}

/**
 * The turn-state pill. The gap between the end of the user's words and the agent's first sound
 * can be seconds on a loaded machine; showing "thinking" with a running clock says the page has
 * not stalled. `onThinking(started)` lets the conversation show (or drop) a placeholder bubble;
 * `announcer`, a polite live region, says each change once in words (never the clock's ticks).
 */
export class TurnIndicator {
  state = 'idle';
  #since = 0;
  #timer = null;

  constructor(root, { onThinking = () => {}, announcer = null } = {}) {
    this.root = root;
    this.onThinking = onThinking;
    this.announcer = announcer;
    this.label = el('span', 'activity-label');
    this.clock = el('span', 'activity-clock');
    this.clock.setAttribute('aria-hidden', 'true'); // a ticking clock is not read out
    root.replaceChildren(this.label, this.clock);
    this.#render();
  }

  /**
   * Move to `state`; re-entering the same state keeps its clock. `outcome` says how a reply
   * ended when it goes idle ('cancelled', 'failed' and 'incomplete' are announced as such).
   */
  set(state, outcome = null) {
    if (state === this.state) return;
    const was = this.state;
    this.state = state;
    this.#since = performance.now();
    debug.turnStates.push(state);
    clearInterval(this.#timer);
    this.#timer = state === 'thinking' ? setInterval(() => this.#tick(), TICK_MS) : null;
    if (state === 'thinking') this.onThinking(true);
    else if (was === 'thinking') this.onThinking(false);
    this.#render();
    const words = spoken(was, state, outcome);
    if (words && this.announcer) this.announcer.textContent = words;
  }

  /** Idle without a word: the connection ended (the status says so). */
  reset() {
    const announcer = this.announcer;
    this.announcer = null;
    this.set('idle');
    this.announcer = announcer;
    if (announcer) announcer.textContent = '';
  }

  /** Seconds spent thinking so far (0 outside it). */
  get elapsed() {
    return this.state === 'thinking' ? (performance.now() - this.#since) / 1000 : 0;
  }

  #tick() {
    this.clock.textContent = `${this.elapsed.toFixed(1)} s`;
  }

  #render() {
    this.root.dataset.state = this.state;
    this.label.textContent = LABELS[this.state] ?? '';
    this.clock.textContent = this.state === 'thinking' ? '0.0 s' : '';
  }
}
