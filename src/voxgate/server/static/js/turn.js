// Whose turn it is: listening → thinking (with the time waited) → speaking → idle.
import { debug, el } from './util.js';

const LABELS = { idle: '', listening: 'Listening', thinking: 'Thinking', speaking: 'Agent speaking' };
const TICK_MS = 100;

/**
 * The turn-state pill. The gap between the end of the user's words and the agent's first sound
 * can be seconds on a loaded machine; showing "thinking" with a running clock says the page has
 * not stalled. `onThinking(started)` lets the conversation show (or drop) a placeholder bubble.
 */
export class TurnIndicator {
  state = 'idle';
  #since = 0;
  #timer = null;

  constructor(root, { onThinking = () => {} } = {}) {
    this.root = root;
    this.onThinking = onThinking;
    this.label = el('span', 'activity-label');
    this.clock = el('span', 'activity-clock');
    this.clock.setAttribute('aria-hidden', 'true'); // a ticking clock is not read out
    root.replaceChildren(this.label, this.clock);
    this.#render();
  }

  /** Move to `state`; re-entering the same state keeps its clock. */
  set(state) {
    if (state === this.state) return;
    const wasThinking = this.state === 'thinking';
    this.state = state;
    this.#since = performance.now();
    debug.turnStates.push(state);
    clearInterval(this.#timer);
    this.#timer = state === 'thinking' ? setInterval(() => this.#tick(), TICK_MS) : null;
    if (state === 'thinking') this.onThinking(true);
    else if (wasThinking) this.onThinking(false);
    this.#render();
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
