// The WebRTC transport: `POST /api/webrtc/offer`, Opus both ways, events on 'oai-events'.
// `direct`: browser-direct mode, `POST /api/realtime/webrtc-offer` — the call goes to the
// server's Realtime upstream (GA events only); voxgate's listener joins it on the call's
// sideband. With keys configured, the offer carries the page's key (js/auth.js).
import { authHeaders } from './auth.js';
import { EventTransport } from './util.js';

const GATHER_TIMEOUT_MS = 3000;

/** Wait until ICE gathering completes (the server takes all candidates in the offer). */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** An HTTP error with the server's message. */
export class OfferError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * Emits 'open', 'event', 'state' (connection state string), 'remote-stream' (MediaStream),
 * 'bad-frame' and 'close' ({code, reason, opened}). The microphone track is given to connect().
 */
export class WebRtcTransport extends EventTransport {
  kind = 'webrtc';
  carriesAudio = false; // audio rides the media tracks
  #pc = null;
  #channel = null;
  #opened = false;
  #closed = false;

  constructor(sessionId, { iceServers = [], agent = null, direct = false, role = 'speaker' } = {}) {
    super();
    this.sessionId = sessionId;
    this.iceServers = iceServers;
    this.agent = agent;
    this.role = role;
    this.direct = direct;
    this.ga = direct; // only GA client events: no voxgate shortcuts
    if (direct) this.kind = 'direct';
  }

  /** Offer/answer; `micTrack` may be null (then the page only listens). Throws OfferError. */
  async connect(micTrack) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.#pc = pc;
    if (micTrack) pc.addTransceiver(micTrack, { direction: 'sendrecv' });
    else pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.ontrack = (e) => this.emit('remote-stream', e.streams[0] ?? new MediaStream([e.track]));
    pc.onconnectionstatechange = () => this.#onState(pc.connectionState);

    const channel = pc.createDataChannel('oai-events');
    this.#channel = channel;
    channel.onopen = () => {
      this.#opened = true;
      this.emit('open');
    };
    channel.onmessage = (msg) => this.#receive(msg.data);
    channel.onclose = () => this.#finish({ code: 1000, reason: 'data channel closed' });

    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (this.#closed) return;
    const body = { sdp: pc.localDescription.sdp, type: 'offer' };
    if (!this.direct) body.session_id = this.sessionId;
    if (this.agent && !this.direct) body.agent = this.agent;
    if (this.role !== 'speaker' && !this.direct) body.role = this.role;
    const response = await fetch(this.direct ? '/api/realtime/webrtc-offer' : '/api/webrtc/offer', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const detail = await response.json().then((j) => j.detail ?? j.error?.message, () => null);
      throw new OfferError(response.status, typeof detail === 'string' ? detail : `offer refused (HTTP ${response.status})`);
    }
    const answer = await response.json();
    if (this.#closed) return;
    this.sessionId = this.direct ? answer.call_id : answer.session_id;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  }

  #onState(state) {
    this.emit('state', state);
    if (state === 'failed') this.#finish({ code: 1006, reason: 'the WebRTC connection failed' });
    else if (state === 'closed') this.#finish({ code: 1000, reason: 'the WebRTC connection closed' });
  }

  #finish(info) {
    if (this.#closed) return;
    this.emit('close', { ...info, opened: this.#opened });
  }

  #receive(data) {
    if (typeof data === 'string') this.emitFrame(data);
  }

  get isOpen() {
    return this.#channel?.readyState === 'open';
  }

  /** The largest message the other side takes (its SDP's max-message-size). */
  get maxMessageBytes() {
    return this.#pc?.sctp?.maxMessageSize || 65536;
  }

  send(event) {
    if (!this.isOpen) return false;
    this.#channel.send(JSON.stringify(event));
    return true;
  }

  sendAudio() {
    return false;
  }

  close() {
    this.#closed = true;
    const pc = this.#pc;
    this.#pc = null;
    if (this.#channel) this.#channel.onclose = this.#channel.onmessage = this.#channel.onopen = null;
    this.#channel?.close();
    if (pc) {
      pc.onconnectionstatechange = pc.ontrack = null;
      for (const sender of pc.getSenders()) sender.track?.stop();
      pc.close();
    }
  }
}

/**
 * What the page needs before connecting: `{webrtc: {enabled, ice_servers}, direct: {enabled},
 * features, agents}` (the features and agents this key's role may use) and `auth: {required}`;
 * `{auth: {required: true, refused: true, message}}` when the server wants a key the page lacks,
 * or refuses the one it has (wrong, revoked, a disabled user).
 */
export async function clientConfig() {
  try {
    const response = await fetch('/api/client-config', { headers: authHeaders() });
    if (response.status === 401 || response.status === 403) {
      const message = await response.json().then((j) => j.error?.message, () => null);
      return { auth: { required: true, refused: true, message: authHeaders().Authorization ? message : null } };
    }
    if (response.ok) return await response.json();
  } catch {
    // an older server: assume WebRTC and no agent list
  }
  return { webrtc: { enabled: true, ice_servers: [] }, direct: { enabled: false }, agents: [] };
}
