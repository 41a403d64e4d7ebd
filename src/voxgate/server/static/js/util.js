// Small helpers shared by the page's modules.

/** State exposed for automated browser tests; mutated in place so references stay live. */
export const debug = {
  state: 'disconnected',
  statusText: 'disconnected',
  transport: null,
  sessionId: null,
  events: [],
  eventTimes: [], // performance.now() at each event's arrival
  agentAudioTimes: [], // performance.now() of each chunk of agent audio heard
  audioFramesReceived: 0,
  audioBytesReceived: 0,
  audioFramesSent: 0,
  agentAudioChunks: 0,
  errors: [],
  turnStates: [], // every state the turn indicator went through
  serverSessions: [], // session.created's session.id, in order
  caughtUp: null, // how many earlier items a joined conversation's history added (catch-up.js)
};
window.voxgate = debug;

/** Hex id; crypto.getRandomValues works on plain http too (randomUUID does not). */
export function randomId(bytes = 8) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** A JSON string (tool arguments or output) shortened for one line of the transcript. */
export function compactJson(text, limit = 80) {
  let shown = text ?? '';
  try {
    const value = JSON.parse(shown);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      shown = Object.entries(value)
        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ');
    }
  } catch {
    // not JSON: show it as it is
  }
  return shown.length > limit ? `${shown.slice(0, limit - 1)}…` : shown;
}

export function clockTime(date = new Date()) {
  return date.toTimeString().slice(0, 8) + '.' + String(date.getMilliseconds()).padStart(3, '0');
}

/** A duration in one format everywhere: "739 ms" below a second, "1.5 s" from a second up. */
export function ms(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/** A plain sentence for a closed or failed connection (the raw detail goes in the banner's code). */
export function describeClose({ code, reason, opened }) {
  const raw = String(reason ?? '');
  if (!opened) {
    if (/failed to fetch|networkerror|load failed/i.test(raw) || !raw || code === 1006) return 'The server could not be reached.';
    return `The server refused the connection: ${raw}.`;
  }
  switch (code) {
    case 1001:
    case 1012:
      return 'The server restarted.';
    case 1013:
      return 'The server is busy.';
    case 1008:
    case 4401:
    case 4403:
      return 'The server refused this connection.';
    case 4000:
      return 'You were removed from this conversation.';
    default:
      return 'The connection to the server was lost.';
  }
}

/** A readable sentence for a getUserMedia / AudioContext failure. */
export function describeMediaError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'microphone permission was denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'no microphone was found';
    case 'NotReadableError':
      return 'the microphone is in use by another application';
    default:
      return err?.message || String(err);
  }
}

/** A minimal event emitter: on(type, fn) / emit(type, detail). */
export class Emitter {
  #listeners = new Map();

  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, []);
    this.#listeners.get(type).push(fn);
    return this;
  }

  emit(type, detail) {
    for (const fn of this.#listeners.get(type) ?? []) fn(detail);
  }
}

/** A transport's events: a text frame is one JSON server event ('event') or a 'bad-frame'. */
export class EventTransport extends Emitter {
  emitFrame(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      this.emit('bad-frame', text);
      return;
    }
    this.emit('event', event);
  }
}
