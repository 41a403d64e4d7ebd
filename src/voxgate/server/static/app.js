// voxgate web client: one WebSocket (see docs/protocol.md), microphone capture, gapless
// playback and a live transcript. No build step and no network resources beyond the server.
//
// Layout of this file, bottom-up:
//   Transport       the WebSocket: JSON events and binary PCM frames
//   AudioEngine     AudioContext + worklets: mic capture, playback, flush
//   TranscriptView  conversation bubbles, one per item_id
//   EventLog, MetricsView, ErrorView   the small side panels
//   App             wires them together and handles the server events

const WIRE_RATE = 24000; // PCM16 LE mono, both directions
const CAPTURE_CHUNK_MS = 40;
const PLAYBACK_PREBUFFER_MS = 40;
const EVENT_LOG_LIMIT = 200;
const ERROR_LIMIT = 5;
const WORKLET_URL = '/static/audio-worklet.js';
const MIC_CONSTRAINTS = { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } };

// State exposed for automated browser tests; mutated in place so references stay live.
const debug = {
  state: 'disconnected',
  statusText: 'disconnected',
  sessionId: null,
  events: [],
  audioFramesReceived: 0,
  audioBytesReceived: 0,
  audioFramesSent: 0,
};
window.voxgate = debug;

/* ---------------------------------------------------------------- utilities */

/** Hex id; crypto.getRandomValues works on plain http too (randomUUID does not). */
function randomId(bytes = 8) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function socketUrl(sessionId) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/${encodeURIComponent(sessionId)}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** A JSON string (tool arguments or output) shortened for one line of the transcript. */
function compactJson(text, limit = 80) {
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

function clockTime(date = new Date()) {
  return date.toTimeString().slice(0, 8) + '.' + String(date.getMilliseconds()).padStart(3, '0');
}

/** A readable sentence for a getUserMedia / AudioContext failure. */
function describeMediaError(err) {
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

/* ---------------------------------------------------------------- transport */

/**
 * One WebSocket to `/ws/{session}`. Emits 'open', 'event' (parsed JSON), 'audio' (ArrayBuffer),
 * 'bad-frame' (unparsable text) and 'close' ({code, reason, opened}).
 */
class Transport {
  #ws = null;
  #listeners = new Map();
  #opened = false;

  constructor(url) {
    this.url = url;
  }

  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, []);
    this.#listeners.get(type).push(fn);
    return this;
  }

  #emit(type, detail) {
    for (const fn of this.#listeners.get(type) ?? []) fn(detail);
  }

  connect() {
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.#opened = true;
      this.#emit('open');
    };
    ws.onmessage = (msg) => this.#receive(msg.data);
    ws.onerror = () => {}; // no detail is given; 'close' follows with a code
    ws.onclose = (e) => this.#emit('close', { code: e.code, reason: e.reason, opened: this.#opened });
    this.#ws = ws;
  }

  #receive(data) {
    if (typeof data !== 'string') {
      this.#emit('audio', data);
      return;
    }
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      this.#emit('bad-frame', data);
      return;
    }
    this.#emit('event', event);
  }

  get isOpen() {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Send a JSON event; false when the socket is not open. */
  send(event) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(event));
    return true;
  }

  /** Send PCM16 audio as one binary frame; false when the socket is not open. */
  sendAudio(buffer) {
    if (!this.isOpen) return false;
    this.#ws.send(buffer);
    return true;
  }

  close() {
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000, 'client disconnect');
  }
}

/* ---------------------------------------------------------------- audio */

/** Playback through the 'voxgate-player' worklet: a queue on the audio thread, flushable at once. */
class WorkletPlayer {
  constructor(ctx, onState) {
    this.node = new AudioWorkletNode(ctx, 'voxgate-player', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { prebufferMs: PLAYBACK_PREBUFFER_MS },
    });
    this.node.port.onmessage = (e) => {
      if (e.data?.type === 'state') onState(e.data.playing);
    };
    this.node.connect(ctx.destination);
  }

  push(buffer) {
    this.node.port.postMessage({ type: 'push', pcm: buffer }, [buffer]);
  }

  flush() {
    this.node.port.postMessage({ type: 'flush' });
  }

  close() {
    this.node.port.onmessage = null;
    this.node.disconnect();
  }
}

/**
 * Fallback when AudioWorklet is unavailable (it needs a secure context: https or localhost):
 * AudioBufferSourceNodes scheduled back-to-back on the context clock.
 */
class BufferPlayer {
  #sources = new Set();
  #nextTime = 0;

  constructor(ctx, onState) {
    this.ctx = ctx;
    this.onState = onState;
  }

  push(buffer) {
    const pcm = new Int16Array(buffer, 0, buffer.byteLength >> 1);
    if (pcm.length === 0) return;
    const audio = this.ctx.createBuffer(1, pcm.length, WIRE_RATE);
    const samples = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 0x8000;
    const source = this.ctx.createBufferSource();
    source.buffer = audio;
    source.connect(this.ctx.destination);
    // After an underrun, restart a little ahead of the clock so the first chunk is not clipped.
    const now = this.ctx.currentTime;
    if (this.#nextTime < now + 0.01) this.#nextTime = now + PLAYBACK_PREBUFFER_MS / 1000;
    source.start(this.#nextTime);
    this.#nextTime += audio.duration;
    source.onended = () => {
      this.#sources.delete(source);
      if (this.#sources.size === 0) this.onState(false);
    };
    this.#sources.add(source);
    if (this.#sources.size === 1) this.onState(true);
  }

  flush() {
    for (const source of this.#sources) {
      source.onended = null;
      source.stop();
    }
    this.#sources.clear();
    this.#nextTime = 0;
    this.onState(false);
  }

  close() {
    this.flush();
  }
}

/**
 * The page's audio: one AudioContext for playback and (optionally) the microphone.
 * Callbacks: onCapture(ArrayBuffer of PCM16 24 kHz), onLevel(0..1), onPlaying(bool).
 */
class AudioEngine {
  #ctx = null;
  #player = null;
  #stream = null;
  #source = null;
  #capture = null;
  #muted = false;
  #closed = false;

  constructor({ onCapture, onLevel, onPlaying }) {
    this.onCapture = onCapture;
    this.onLevel = onLevel;
    this.onPlaying = onPlaying;
  }

  get sampleRate() {
    return this.#ctx?.sampleRate ?? null;
  }

  get hasWorklet() {
    return Boolean(this.#ctx?.audioWorklet);
  }

  /**
   * Open the context and the player. The context is created before the first await so that it
   * is born inside the click's user activation and is allowed to play.
   */
  async start() {
    this.#ctx = AudioEngine.#createContext(true);
    await this.#setUpPlayer();
  }

  /** A 24 kHz context when the browser allows it (no resampling at all), else the device rate. */
  static #createContext(preferWireRate) {
    if (preferWireRate) {
      try {
        return new AudioContext({ sampleRate: WIRE_RATE, latencyHint: 'interactive' });
      } catch {
        // this browser only runs contexts at the device rate: the worklets resample
      }
    }
    return new AudioContext({ latencyHint: 'interactive' });
  }

  async #setUpPlayer() {
    const ctx = this.#ctx;
    // Not awaited: resume() stays pending until a user gesture if autoplay is blocked.
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    if (ctx.audioWorklet) {
      await ctx.audioWorklet.addModule(WORKLET_URL);
      if (this.#closed) return;
      this.#player = new WorkletPlayer(ctx, (playing) => this.onPlaying(playing));
    } else {
      this.#player = new BufferPlayer(ctx, (playing) => this.onPlaying(playing));
    }
  }

  /** Ask for the microphone and start capturing. Throws a readable Error on failure. */
  async startMic() {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('the microphone needs https or localhost');
    if (!this.#ctx?.audioWorklet) throw new Error('microphone capture needs AudioWorklet (https or localhost)');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(MIC_CONSTRAINTS);
    } catch (err) {
      throw new Error(describeMediaError(err));
    }
    if (this.#closed) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    this.#stream = stream;
    this.#applyMute();
    this.#source = await this.#createSource(stream);
    if (this.#closed) return;
    this.#capture = new AudioWorkletNode(this.#ctx, 'voxgate-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { chunkMs: CAPTURE_CHUNK_MS },
    });
    this.#capture.port.onmessage = (e) => this.#onChunk(e.data);
    this.#source.connect(this.#capture);
    // Connected (silently) to the destination so the graph keeps pulling the processor.
    this.#capture.connect(this.#ctx.destination);
  }

  /**
   * Firefox refuses to connect a microphone to a context whose rate differs from the device's;
   * then fall back to a device-rate context (the worklets resample) and rebuild the player.
   */
  async #createSource(stream) {
    try {
      return this.#ctx.createMediaStreamSource(stream);
    } catch (err) {
      if (this.#ctx.sampleRate !== WIRE_RATE) throw err;
    }
    this.#player?.close();
    this.#player = null;
    await this.#ctx.close();
    this.#ctx = AudioEngine.#createContext(false);
    await this.#setUpPlayer();
    return this.#ctx.createMediaStreamSource(stream);
  }

  #onChunk({ pcm, level }) {
    if (this.#muted) {
      this.onLevel(0);
      return;
    }
    this.onLevel(level);
    this.onCapture(pcm);
  }

  get micActive() {
    return this.#capture !== null;
  }

  setMuted(muted) {
    this.#muted = muted;
    this.#applyMute();
  }

  // Disabling the track too means the browser really stops listening, not just the page.
  #applyMute() {
    for (const track of this.#stream?.getAudioTracks() ?? []) track.enabled = !this.#muted;
  }

  play(buffer) {
    this.#player?.push(buffer);
  }

  flush() {
    this.#player?.flush();
  }

  async stop() {
    this.#closed = true;
    this.#capture?.port.postMessage({ type: 'stop' });
    this.#capture?.disconnect();
    this.#source?.disconnect();
    this.#stream?.getTracks().forEach((t) => t.stop());
    this.#player?.close();
    this.#capture = this.#source = this.#stream = this.#player = null;
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx && ctx.state !== 'closed') await ctx.close().catch(() => {});
  }
}

/* ---------------------------------------------------------------- transcript */

/**
 * Conversation bubbles, one per conversation item (keyed by item_id). Typed user messages are
 * shown at once without an id and adopt it when the server echoes the item back.
 */
class TranscriptView {
  #items = new Map(); // item_id -> <li>
  #notes = new Map(); // call_id / run_id -> <li>

  constructor(list) {
    this.list = list;
  }

  clear() {
    this.#items.clear();
    this.list.replaceChildren();
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
    this.#finalize('user', itemId, (transcript ?? '').trim(), 'pending');
  }

  userTranscriptionFailed(itemId) {
    const bubble = this.#items.get(itemId);
    if (!bubble) return;
    this.#setText(bubble, 'transcription failed');
    bubble.classList.remove('pending');
    bubble.classList.add('failed');
  }

  /** Shown immediately; adopted by the matching conversation.item.added. */
  userTyped(text) {
    const bubble = this.#bubble('user', null, text, 'sending');
    bubble.dataset.local = 'pending';
    this.#append(bubble);
  }

  /** A user item from conversation.item.added / .done (typed here, by another client, or audio). */
  userItem(item) {
    const typed = item.content?.find((part) => part.type === 'input_text');
    if (typed) {
      const existing = this.#items.get(item.id) ?? this.#adoptTyped(item.id, typed.text);
      if (existing) this.#setText(existing, typed.text);
      else this.#append(this.#bubble('user', item.id, typed.text));
      return;
    }
    // transcript is null until transcribed; a string (maybe empty) once it is.
    const audio = item.content?.find((part) => part.type === 'input_audio');
    if (typeof audio?.transcript === 'string') this.userTranscript(item.id, audio.transcript);
    else if (audio) this.userSpeaking(item.id);
  }

  #adoptTyped(itemId, text) {
    const bubble = [...this.list.querySelectorAll('[data-local="pending"]')].find(
      (b) => b.querySelector('.bubble-text').textContent === text,
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

  agentDelta(itemId, delta) {
    if (!itemId || !delta) return;
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
  }

  /** Final text of an item's bubble (made if missing); empty text removes the bubble. */
  #finalize(role, itemId, text, liveClass) {
    if (!text.trim()) {
      this.remove(itemId);
      return;
    }
    this.#update(() => {
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

  remove(itemId) {
    this.#items.get(itemId)?.remove();
    this.#items.delete(itemId);
  }

  /**
   * A line about what the agent does rather than says (a tool call, a handoff, a background
   * run); `key` lets a later event update it (a call's result replaces its "running" line).
   */
  note(key, kind, text, state = '') {
    this.#update(() => {
      let line = key ? this.#notes.get(key) : null;
      if (!line) {
        line = this.#append(el('li', 'note'));
        line.dataset.testid = 'note';
        if (key) this.#notes.set(key, line);
      }
      line.className = `note ${kind} ${state}`.trim();
      line.dataset.kind = kind;
      line.textContent = text;
    });
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

/* ---------------------------------------------------------------- side panels */

/** The last `limit` event types, newest first. */
class EventLog {
  constructor(list, limit = EVENT_LOG_LIMIT) {
    this.list = list;
    this.limit = limit;
  }

  add(type) {
    const row = el('li', type === 'error' ? 'event error' : 'event');
    row.append(el('time', null, clockTime()), el('code', null, type));
    this.list.prepend(row);
    while (this.list.childElementCount > this.limit) this.list.lastElementChild.remove();
  }

  clear() {
    this.list.replaceChildren();
  }
}

/** The latest `voxgate.metrics` numbers, rounded to whole milliseconds. */
class MetricsView {
  static LABELS = {
    first_audio_ms: 'First audio',
    llm_first_token_ms: 'LLM first token',
    tts_first_audio_ms: 'TTS first audio',
    stt_wait_ms: 'STT wait',
  };

  constructor(list) {
    this.list = list;
  }

  show(metrics) {
    const known = Object.keys(MetricsView.LABELS).filter((key) => key in metrics);
    const extra = Object.keys(metrics).filter((key) => !(key in MetricsView.LABELS)).sort();
    const rows = [...known, ...extra]
      .filter((key) => typeof metrics[key] === 'number')
      .map((key) => {
        const row = el('div', 'metric');
        row.dataset.metric = key;
        row.append(el('dt', null, MetricsView.LABELS[key] ?? key), el('dd', null, `${Math.round(metrics[key])} ms`));
        return row;
      });
    this.list.replaceChildren(...rows);
  }

  clear() {
    this.list.replaceChildren();
  }
}

/** Readable errors, newest first, the last few only. */
class ErrorView {
  constructor(box, limit = ERROR_LIMIT) {
    this.box = box;
    this.limit = limit;
  }

  add(message, code) {
    const row = el('div', 'error-row');
    row.append(el('span', 'error-message', message));
    if (code) row.append(el('code', 'error-code', code));
    const dismiss = el('button', 'error-dismiss', '×');
    dismiss.type = 'button';
    dismiss.setAttribute('aria-label', 'Dismiss error');
    dismiss.addEventListener('click', () => row.remove());
    row.append(dismiss);
    this.box.prepend(row);
    while (this.box.childElementCount > this.limit) this.box.lastElementChild.remove();
  }

  clear() {
    this.box.replaceChildren();
  }
}

/* ---------------------------------------------------------------- app */

class App {
  transport = null;
  audio = null;
  muted = false;
  #generation = 0; // bumps on every connect/disconnect; stale async work checks it

  constructor(ui) {
    this.ui = ui;
    this.transcript = new TranscriptView(ui.conversation);
    this.eventLog = new EventLog(ui.events);
    this.metrics = new MetricsView(ui.metrics);
    this.errors = new ErrorView(ui.errors);
    this.handlers = this.#eventHandlers();

    ui.connect.addEventListener('click', () => (this.transport ? this.disconnect() : this.connect()));
    ui.mute.addEventListener('click', () => this.setMuted(!this.muted));
    ui.interrupt.addEventListener('click', () => this.interrupt());
    ui.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.sendText(ui.textInput.value)) ui.textInput.value = '';
    });
    this.setState('disconnected');
  }

  /* ----- connection lifecycle */

  connect() {
    const generation = ++this.#generation;
    const sessionId = new URLSearchParams(location.search).get('session') || randomId();
    this.#resetForSession(sessionId);
    this.setState('connecting');

    // Audio first, synchronously inside the click, so the AudioContext may start playing.
    this.audio = new AudioEngine({
      onCapture: (pcm) => this.#sendAudio(pcm),
      onLevel: (level) => this.ui.level.style.setProperty('--level', Math.min(1, level * 4).toFixed(3)),
      onPlaying: (playing) => this.#setActivity('agent', playing),
    });
    this.#startAudio(this.audio, generation);

    const transport = new Transport(socketUrl(sessionId));
    transport
      .on('open', () => this.#current(generation) && this.setState('connected'))
      .on('event', (event) => this.#current(generation) && this.#onServerEvent(event))
      .on('audio', (buffer) => this.#current(generation) && this.#onServerAudio(buffer))
      .on('bad-frame', () => this.#current(generation) && this.errors.add('the server sent a text frame that is not JSON'))
      .on('close', (info) => this.#current(generation) && this.#onClosed(info));
    this.transport = transport;
    transport.connect();
  }

  /** Playback, then the microphone; either may fail and the socket and typing still work. */
  async #startAudio(audio, generation) {
    try {
      await audio.start(); // creates the AudioContext synchronously, before its first await
    } catch (err) {
      if (this.#current(generation)) this.#showMic('error', `Audio unavailable: ${describeMediaError(err)}.`);
      return;
    }
    if (!this.#current(generation)) return;
    try {
      await audio.startMic();
      if (this.#current(generation)) this.#showMic(audio.micActive ? 'live' : 'off');
    } catch (err) {
      if (this.#current(generation)) this.#showMic('error', `Microphone unavailable: ${err.message}.`);
    }
  }

  disconnect() {
    this.#generation++;
    this.#teardown();
    this.setState('disconnected');
  }

  #current(generation) {
    return generation === this.#generation;
  }

  #onClosed({ code, reason, opened }) {
    this.#generation++;
    this.#teardown();
    const why = opened
      ? `connection closed (code ${code}${reason ? `: ${reason}` : ''})`
      : `could not connect to ${location.host}${reason ? ` (${reason})` : ''}`;
    this.setState('error', why);
  }

  #teardown() {
    this.transport?.close();
    this.transport = null;
    this.audio?.stop();
    this.audio = null;
    this.muted = false;
    this.#setActivity('agent', false);
    this.#setActivity('user', false);
    this.ui.level.style.setProperty('--level', '0');
    this.#showMic('off');
  }

  /** A new session id means a new conversation: start the views and test counters afresh. */
  #resetForSession(sessionId) {
    Object.assign(debug, { sessionId, audioFramesReceived: 0, audioBytesReceived: 0, audioFramesSent: 0 });
    debug.events.length = 0;
    this.transcript.clear();
    this.eventLog.clear();
    this.metrics.clear();
    this.errors.clear();
    const link = new URL(location.href);
    link.searchParams.set('session', sessionId);
    this.ui.session.textContent = sessionId;
    this.ui.session.href = link.href;
    this.ui.session.title = 'Open this link in another tab or device to join the same conversation';
  }

  /* ----- UI state */

  setState(state, detail) {
    const text = state === 'error' ? `error: ${detail}` : state;
    Object.assign(debug, { state, statusText: text });
    this.ui.status.textContent = text;
    this.ui.status.dataset.state = state;
    const active = state === 'connecting' || state === 'connected';
    this.ui.connect.textContent = active ? 'Disconnect' : 'Connect';
    this.ui.connect.classList.toggle('danger', active);
    const live = state === 'connected';
    for (const control of [this.ui.mute, this.ui.interrupt, this.ui.send]) control.disabled = !live;
    this.#renderMute();
  }

  setMuted(muted) {
    this.muted = muted;
    this.audio?.setMuted(muted);
    this.#renderMute();
  }

  #renderMute() {
    this.ui.mute.textContent = this.muted ? 'Unmute' : 'Mute';
    this.ui.mute.setAttribute('aria-pressed', String(this.muted));
    this.ui.micBox.classList.toggle('muted', this.muted);
  }

  #showMic(state, message) {
    const labels = { live: `microphone on (${this.audio?.sampleRate ?? '?'} Hz)`, off: 'microphone off' };
    this.ui.micBox.dataset.state = state;
    this.ui.micStatus.textContent = state === 'error' ? `${message} You can still type.` : labels[state];
  }

  #setActivity(who, on) {
    this.ui.activity.classList.toggle(`${who}-active`, on);
    const user = this.ui.activity.classList.contains('user-active');
    const agent = this.ui.activity.classList.contains('agent-active');
    this.ui.activity.textContent = user ? 'listening…' : agent ? 'agent speaking…' : '';
  }

  /* ----- outgoing */

  sendText(value) {
    const text = value.trim();
    if (!text || !this.transport?.send({ type: 'text', text })) return false;
    this.transcript.userTyped(text);
    return true;
  }

  interrupt() {
    this.transport?.send({ type: 'interrupt' });
    this.audio?.flush();
  }

  #sendAudio(pcm) {
    if (this.muted || !this.transport?.sendAudio(pcm)) return;
    debug.audioFramesSent++;
  }

  /* ----- incoming */

  #onServerAudio(buffer) {
    debug.audioFramesReceived++;
    debug.audioBytesReceived += buffer.byteLength;
    this.audio?.play(buffer); // transfers (detaches) the buffer
  }

  #onServerEvent(event) {
    if (!event || typeof event.type !== 'string') return;
    debug.events.push(event);
    this.eventLog.add(event.type);
    this.handlers[event.type]?.(event);
  }

  /** The user barged in (or interrupted): stop the agent's voice now. */
  #bargeIn() {
    this.audio?.flush();
  }

  #eventHandlers() {
    const t = this.transcript;
    const agentDelta = (e) => t.agentDelta(e.item_id, e.delta);
    const userItem = (e) => e.item?.role === 'user' && t.userItem(e.item);
    return {
      'input_audio_buffer.speech_started': (e) => {
        this.#bargeIn();
        this.#setActivity('user', true);
        t.userSpeaking(e.item_id);
      },
      'input_audio_buffer.speech_stopped': () => this.#setActivity('user', false),
      'input_audio_buffer.committed': (e) => t.userCommitted(e.item_id),
      'input_audio_buffer.cleared': () => {
        this.#setActivity('user', false);
        t.dropUncommitted();
      },
      'conversation.item.added': userItem,
      'conversation.item.done': userItem,
      'conversation.item.deleted': (e) => t.remove(e.item_id),
      'conversation.item.input_audio_transcription.completed': (e) => t.userTranscript(e.item_id, e.transcript),
      'conversation.item.input_audio_transcription.failed': (e) => {
        t.userTranscriptionFailed(e.item_id);
        this.errors.add(e.error?.message ?? 'transcription failed', e.error?.code);
      },
      'response.output_audio_transcript.delta': agentDelta,
      'response.output_text.delta': agentDelta,
      'response.output_audio_transcript.done': (e) => t.agentDone(e.item_id, e.transcript),
      'response.output_text.done': (e) => t.agentDone(e.item_id, e.text),
      'response.done': (e) => this.#onResponseDone(e.response ?? {}),
      'conversation.item.truncated': (e) => t.markInterrupted(e.item_id),
      'voxgate.metrics': (e) => this.metrics.show(e.metrics ?? {}),
      'voxgate.tool.started': (e) => t.note(e.call_id, 'tool', `${e.name}(${compactJson(e.arguments)}) …`, 'running'),
      'voxgate.tool.completed': (e) =>
        t.note(
          e.call_id,
          'tool',
          `${e.name}(${compactJson(e.arguments)}) → ${e.status === 'ok' ? compactJson(e.output) : e.status} · ${Math.round(e.duration_ms)} ms`,
          e.status === 'ok' ? '' : 'failed',
        ),
      'voxgate.handoff': (e) => t.note(null, 'handoff', `${e.from} → ${e.to}`),
      'voxgate.run.started': (e) => t.note(e.run_id, 'run', `${e.agent}: started “${e.task}”`, 'running'),
      'voxgate.run.event': (e) => {
        const data = e.event?.data ?? {};
        if (e.event?.type === 'textmessage') t.note(null, 'run', `${data.source ?? e.agent}: ${data.content}`);
        else if (e.event?.type === 'toolcallrequest')
          t.note(null, 'run tool', `${data.source ?? e.agent} calls ${(data.calls ?? []).map((c) => c.name).join(', ')}`);
      },
      'voxgate.run.status': (e) =>
        t.note(e.run_id, 'run', `${e.agent}: ${e.status}${e.error ? ` (${e.error})` : ''}`, e.status === 'failed' ? 'failed' : ''),
      error: (e) => this.errors.add(e.error?.message ?? 'unknown error', e.error?.code),
    };
  }

  #onResponseDone(response) {
    if (response.status === 'cancelled') {
      this.#bargeIn();
      for (const item of response.output ?? []) this.transcript.markInterrupted(item.id);
    } else if (response.status === 'failed') {
      const error = response.status_details?.error;
      this.errors.add(error?.message ?? 'the response failed', error?.code);
    }
  }
}

/* ---------------------------------------------------------------- boot */

function byTestId(id) {
  const node = document.querySelector(`[data-testid="${id}"]`);
  if (!node) throw new Error(`index.html lacks data-testid="${id}"`);
  return node;
}

const ui = {
  status: byTestId('status'),
  session: byTestId('session'),
  connect: byTestId('connect'),
  mute: byTestId('mute'),
  interrupt: byTestId('interrupt'),
  activity: byTestId('activity'),
  micBox: byTestId('mic'),
  micStatus: byTestId('mic-status'),
  level: byTestId('mic-level'),
  errors: byTestId('errors'),
  conversation: byTestId('conversation'),
  composer: byTestId('composer'),
  textInput: byTestId('text-input'),
  send: byTestId('send'),
  metrics: byTestId('metrics'),
  events: byTestId('events'),
};

debug.app = new App(ui);
