// Record-and-send beside live voice: hold the button (pointer, or Space / Enter while it has
// focus) to record a clip with MediaRecorder; release to post it to /api/voice/turn. The
// transcript, the tool calls and the agent's reply join the conversation pane and the reply's
// audio plays. It speaks in the page's session (conversation_id), so a later Connect continues
// the same conversation; while live voice holds the session the button waits (disabled).
import { authHeaders } from './auth.js';
import { compactJson, debug, describeMediaError } from './util.js';

const MIN_HOLD_MS = 300; // a tap, not a recording
const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm'];
const MIC = { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } };
const HOLD_HINT = 'Hold the button down while you speak, then let go.';
const LABELS = { idle: 'Hold to talk', recording: 'Recording… release to send', sending: 'Sending…' };

export class HoldToTalk {
  enabled = false;
  live = false;
  state = 'idle'; // 'idle' | 'recording' | 'sending'
  #held = false; // the button is down (pointer or key)
  #recorder = null;
  #stream = null;
  #timer = null;
  #player = null;
  #maxSeconds = 60;

  constructor(button, hint, app) {
    this.button = button;
    this.hint = hint;
    this.app = app;
    button.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      e.preventDefault(); // no focus steal or text selection on a long press
      button.setPointerCapture?.(e.pointerId);
      this.press();
    });
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) button.addEventListener(type, () => this.release());
    button.addEventListener('keydown', (e) => {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault();
      if (!e.repeat) this.press();
    });
    button.addEventListener('keyup', (e) => {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault();
      this.release();
    });
    button.addEventListener('blur', () => this.release());
    button.addEventListener('contextmenu', (e) => e.preventDefault()); // a long touch
    this.#render();
  }

  /** `/api/client-config`'s `record_and_send`: whether the server offers it, and for how long. */
  configure(config) {
    this.enabled = Boolean(config?.enabled) && typeof MediaRecorder !== 'undefined' && Boolean(navigator.mediaDevices);
    this.#maxSeconds = config?.max_seconds ?? 60;
    this.button.hidden = !this.enabled;
    this.#render();
  }

  /** Live voice holds the session (connecting, connected): one way of talking at a time. */
  setLive(live) {
    this.live = live;
    if (live) this.release();
    this.#render();
  }

  async press() {
    if (this.state !== 'idle' || this.live || !this.enabled) return;
    this.#held = true;
    this.#player?.pause();
    this.#set('recording');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(MIC);
    } catch (err) {
      this.app.errors.add(`Microphone unavailable: ${describeMediaError(err)}.`, 'microphone');
      this.#set('idle');
      return;
    }
    if (!this.#held) { // released before the microphone opened: a tap
      stream.getTracks().forEach((t) => t.stop());
      this.#set('idle');
      this.hint.textContent = HOLD_HINT;
      return;
    }
    const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
    const chunks = [];
    const started = performance.now();
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      const held = performance.now() - started;
      this.#send(new Blob(chunks, { type: recorder.mimeType || 'audio/webm' }), held);
    };
    this.#stream = stream;
    this.#recorder = recorder;
    recorder.start();
    debug.recording = true;
    this.#timer = setTimeout(() => this.release(), this.#maxSeconds * 1000 - 250);
  }

  release() {
    this.#held = false;
    clearTimeout(this.#timer);
    const recorder = this.#recorder;
    this.#recorder = null;
    debug.recording = false;
    if (recorder?.state === 'recording') recorder.stop(); // onstop sends
  }

  async #send(blob, heldMs) {
    this.#stream = null;
    if (heldMs < MIN_HOLD_MS || blob.size === 0) {
      this.hint.textContent = HOLD_HINT;
      this.#set('idle');
      return;
    }
    this.#set('sending');
    const app = this.app;
    if (!(await app.keyReady())) {
      this.#set('idle');
      return;
    }
    const form = new FormData();
    form.append('file', blob, `recording.${blob.type.includes('ogg') ? 'ogg' : blob.type.includes('mp4') ? 'm4a' : 'webm'}`);
    if (app.ui.agent.value) form.append('agent', app.ui.agent.value);
    debug.lastRecording = { conversationId: app.conversationId(), bytes: blob.size, type: blob.type };
    const said = app.conversation.recording();
    app.turn.set('thinking');
    try {
      // the id in the URL: `voxgate serve --workers` sends the request to the process holding it
      const url = `/api/voice/turn?conversation_id=${encodeURIComponent(app.conversationId())}`;
      const response = await fetch(url, { method: 'POST', body: form, headers: authHeaders() });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        said(null);
        app.turn.set('idle');
        const detail = body.error?.message ?? body.detail ?? `HTTP ${response.status}`;
        app.errors.add(response.status === 401 ? 'This server needs an API key: enter it above, then hold to talk again.' : `Not sent: ${detail}.`, body.error?.code);
        return;
      }
      debug.recordedTurns = (debug.recordedTurns ?? 0) + 1;
      said(body.transcript);
      this.#tools(body.tool_calls ?? []);
      this.#reply(body);
    } catch (err) {
      said(null);
      app.turn.set('idle');
      app.errors.add(`Not sent: the server could not be reached (${err.message}).`, 'network');
    } finally {
      this.#set('idle');
    }
  }

  #tools(calls) {
    for (const call of calls) {
      const result = call.output == null ? 'not run here' : compactJson(call.output);
      this.app.conversation.note(call.call_id, 'tool', `${call.name}(${compactJson(call.arguments)}) → ${result}`);
      this.app.tools.completed({ ...call, status: call.output == null ? 'called' : 'ok', duration_ms: null });
    }
  }

  /** The reply's words, then its voice; the turn pill says "speaking" while it plays. */
  #reply({ text, audio }) {
    const app = this.app;
    if (!audio) {
      app.turn.set('idle');
      app.conversation.agentSaid(text);
      return;
    }
    app.turn.set('speaking');
    app.conversation.agentSaid(text);
    const bytes = Uint8Array.from(atob(audio), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: 'audio/wav' }));
    const player = new Audio(url);
    this.#player = player;
    const done = () => {
      URL.revokeObjectURL(url);
      if (this.#player === player) this.#player = null;
      if (app.turn.state === 'speaking') app.turn.set('idle');
    };
    player.addEventListener('ended', done);
    player.addEventListener('pause', done);
    player.play().then(() => (debug.recordedAudioPlayed = (debug.recordedAudioPlayed ?? 0) + 1), () => {
      done();
      app.errors.add('The browser blocked the agent’s voice: click the page to allow it.', 'autoplay');
    });
  }

  #set(state) {
    this.state = state;
    this.#render();
  }

  #render() {
    const b = this.button;
    b.textContent = LABELS[this.state];
    b.dataset.state = this.state;
    b.setAttribute('aria-pressed', String(this.state === 'recording'));
    b.disabled = !this.enabled || this.state === 'sending' || (this.live && this.state === 'idle');
    b.title = this.live ? 'Disconnect live voice to record and send' : 'Hold (or hold Space) to record; let go to send';
    if (this.state === 'recording') this.hint.textContent = '';
  }
}
