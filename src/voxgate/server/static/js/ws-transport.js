// The WebSocket transport: `/ws/{session}`, JSON events and binary PCM16 24 kHz frames.
import { socketProtocols } from './auth.js';
import { EventTransport } from './util.js';

function socketUrl(sessionId, agent, role) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = new URLSearchParams();
  if (agent) query.set('agent', agent);
  if (role && role !== 'speaker') query.set('role', role);
  const search = query.size ? `?${query}` : '';
  return `${scheme}//${location.host}/ws/${encodeURIComponent(sessionId)}${search}`;
}

/**
 * Emits 'open', 'event' (parsed JSON), 'audio' (ArrayBuffer), 'bad-frame' (unparsable text) and
 * 'close' ({code, reason, opened}). The page's AudioEngine captures and plays the audio.
 */
export class WebSocketTransport extends EventTransport {
  kind = 'websocket';
  carriesAudio = true; // audio flows through send/receive, not a media track
  #ws = null;
  #opened = false;
  #closed = false;

  constructor(sessionId, { agent = null, role = 'speaker' } = {}) {
    super();
    this.sessionId = sessionId;
    this.agent = agent;
    this.role = role;
  }

  async connect() {
    let protocols;
    try {
      protocols = await socketProtocols(this.sessionId);
    } catch (err) {
      this.emit('close', { code: 1008, reason: err.message, opened: false });
      return;
    }
    if (this.#closed) return;
    const ws = new WebSocket(socketUrl(this.sessionId, this.agent, this.role), protocols);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.#opened = true;
      this.emit('open');
    };
    ws.onmessage = (msg) => this.#receive(msg.data);
    ws.onerror = () => {}; // no detail is given; 'close' follows with a code
    ws.onclose = (e) => this.emit('close', { code: e.code, reason: e.reason, opened: this.#opened });
    this.#ws = ws;
  }

  #receive(data) {
    if (typeof data === 'string') this.emitFrame(data);
    else this.emit('audio', data);
  }

  get isOpen() {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  send(event) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(event));
    return true;
  }

  sendAudio(buffer) {
    if (!this.isOpen) return false;
    this.#ws.send(buffer);
    return true;
  }

  close() {
    this.#closed = true;
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000, 'client disconnect');
  }
}
