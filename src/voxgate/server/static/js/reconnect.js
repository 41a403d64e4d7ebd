// Automatic reconnects: plain words, backoff, one banner and one note per episode, and an
// honest note when the server no longer has the session.
import { debug, describeClose } from './util.js';

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 15000]; // one entry per automatic attempt
const FORGOTTEN =
  'The server no longer had the earlier conversation (it restarted or the session ended): this is a new one, and the agent does not remember anything above.';
const RESTORED =
  'The server started a new session (it restarted or the session ended) and restored the conversation above from its store: the agent remembers it.';

/**
 * `app` provides connect({auto}), setState, errors and conversation. A connection that had
 * opened (or an automatic attempt) is retried after 1, 2, 4, 8, 15 and 15 s; a refusal (4xx)
 * or the last failure leaves a banner with a Reconnect button.
 */
export class Reconnector {
  attempt = 0;
  timer = null;
  #episode = 0;
  #note = null; // the conversation note of the current episode

  constructor(app) {
    this.app = app;
  }

  get pending() {
    return this.timer !== null;
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  stop() {
    this.cancel();
    this.attempt = 0;
  }

  forgetNote() {
    this.#note = null;
  }

  opened() {
    this.attempt = 0;
    this.app.errors.clear('connection');
  }

  /** A manual Connect to the session already on screen. */
  rejoining() {
    this.#noteText('Connecting to the same session…');
  }

  /** The connection closed or could not open (after the page's teardown). */
  closed({ code, reason, opened, refused = false }) {
    const app = this.app;
    const wasLive = opened || this.attempt > 0;
    const why = describeClose({ code, reason, opened });
    const detail = `${reason || 'no reason given'}${code ? ` (code ${code})` : ''}`;
    debug.closeDetail = detail;
    if (wasLive && !refused && this.attempt < BACKOFF_MS.length) {
      const delay = BACKOFF_MS[this.attempt];
      if (this.attempt === 0) this.#noteText('Connection lost — reconnecting…', true);
      this.attempt++;
      this.timer = setTimeout(() => {
        this.timer = null;
        app.connect({ auto: true });
      }, delay);
      const action = { label: 'Reconnect now', testid: 'reconnect', run: () => app.connect() };
      app.errors.add(`${why} Reconnecting in ${Math.round(delay / 1000)} s…`, null, { key: 'connection', action, detail });
      app.setState('reconnecting', why);
      return;
    }
    this.attempt = 0;
    const action = { label: wasLive ? 'Reconnect' : 'Try again', testid: 'reconnect', run: () => app.connect() };
    const message = wasLive && !refused ? `${why} Reconnecting did not work.` : why;
    app.errors.add(message, null, { key: 'connection', action, detail });
    app.setState('error', message);
  }

  /** session.created: the same session object means the server still has the conversation. */
  sessionCreated(session) {
    const id = session?.id ?? null;
    const known = debug.serverSessions.at(-1);
    if (id) debug.serverSessions.push(id);
    if (known && id && id !== known) {
      if (this.#note) this.app.conversation.note(this.#note, 'reconnect', 'Reconnected.');
      this.#note = null;
      this.app.conversation.forget(FORGOTTEN, RESTORED);
      this.app.metrics.newSession();
    } else if (this.#note) {
      this.app.conversation.note(this.#note, 'reconnect', 'Reconnected: the conversation continues.');
      this.#note = null;
    }
  }

  /** One note per episode, updated as it goes (never one per attempt). */
  #noteText(text, newEpisode = false) {
    if (newEpisode || !this.#note) this.#note = `reconnect-${++this.#episode}`;
    this.app.conversation.note(this.#note, 'reconnect', text);
  }
}
