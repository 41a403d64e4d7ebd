// voxgate web client (no build step): WebRTC or WebSocket to a session (or, in browser-direct
// mode, WebRTC straight to the server's Realtime upstream), a live conversation,
// the raw events, tools & handoffs, background runs and per-turn latency (docs/protocol.md).
//
// Modules (js/): util, audio (AudioContext + worklets), ws-transport, webrtc-transport, and
// views/ for each pane. This file wires them and handles the server's events.

import { AudioEngine } from './js/audio.js';
import { auth, setKey } from './js/auth.js';
import { compactJson, debug, describeMediaError, randomId } from './js/util.js';
import { ConversationView } from './js/views/conversation.js';
import { ErrorView } from './js/views/errors.js';
import { EventsView } from './js/views/events.js';
import { MetricsView } from './js/views/metrics.js';
import { RunsView } from './js/views/runs.js';
import { ToolsView } from './js/views/tools.js';
import { OfferError, WebRtcTransport, clientConfig } from './js/webrtc-transport.js';
import { WebSocketTransport } from './js/ws-transport.js';

const AGENT_AUDIO_LEVEL = 0.01; // a 40 ms chunk of remote audio louder than this is agent speech

class App {
  transport = null;
  audio = null;
  muted = false;
  config = { enabled: true, ice_servers: [] };
  direct = false; // the server offers browser-direct mode
  #generation = 0; // bumps on every connect/disconnect; stale async work checks it
  #speechStoppedAt = null; // performance.now() at the end of the user's last spoken turn
  #responseId = null;
  #pendingOptions = null; // [agent, transport] to load once the page has a key

  constructor(ui) {
    this.ui = ui;
    this.conversation = new ConversationView(ui.conversation);
    this.events = new EventsView(ui.events, { filter: ui.eventsFilter, hideDeltas: ui.hideDeltas, count: ui.eventsCount });
    this.tools = new ToolsView(ui.tools, { count: ui.toolsCount, agent: ui.currentAgent, empty: ui.toolsEmpty });
    this.runs = new RunsView(ui.runs, { count: ui.runsCount, empty: ui.runsEmpty });
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
    for (const tab of ui.tabs) tab.addEventListener('click', () => this.showTab(tab.dataset.tab));
    const params = new URLSearchParams(location.search);
    const transport = params.get('transport') ?? localStorage.getItem('voxgate.transport') ?? 'webrtc';
    ui.transport.value = transport === 'websocket' ? 'websocket' : 'webrtc';
    ui.transport.addEventListener('change', () => localStorage.setItem('voxgate.transport', ui.transport.value));
    this.setState('disconnected');
    this.ready = this.#loadOptions(params.get('agent'), transport);
  }

  /** The server's WebRTC flag and ICE servers; the agents it offers (or: it wants a key). */
  async #loadOptions(agent, transport) {
    const config = await clientConfig();
    auth.required = Boolean(config.auth?.required);
    this.ui.apiKeyField.hidden = !auth.required;
    if (!auth.required) setKey(null); // an open server: a key from before would only get in the way
    if (config.auth?.refused) {
      if (auth.key) this.errors.add('The server refused this API key: enter another and press Connect.', 'auth_required');
      else this.errors.add('This server needs an API key: enter it and press Connect.', 'auth_required');
      setKey(null);
      this.#pendingOptions = [agent, transport];
      document.body.dataset.ready = 'true';
      return;
    }
    this.#pendingOptions = null;
    this.config = config.webrtc ?? this.config;
    this.direct = Boolean(config.direct?.enabled) && this.config.enabled;
    if (this.direct) {
      const option = new Option('Direct (WebRTC to the upstream)', 'direct');
      option.title = 'Your browser talks to the Realtime service; voxgate keeps the key and runs the tools';
      this.ui.transport.append(option);
      if (transport === 'direct') this.ui.transport.value = 'direct';
    }
    if (!this.config.enabled) {
      this.ui.transport.value = 'websocket';
      this.ui.transport.querySelector('option[value="webrtc"]').disabled = true;
      this.ui.transport.title = 'WebRTC is turned off on this server';
    }
    const agents = (config.agents ?? []).map((a) => (typeof a === 'string' ? a : a.name)).filter(Boolean);
    const options = agents.length ? agents.map((name) => new Option(name.replaceAll('_', ' '), name)) : [new Option('default', '')];
    this.ui.agent.replaceChildren(...options);
    this.ui.agent.dataset.count = String(agents.length);
    if (agent && agents.includes(agent)) this.ui.agent.value = agent;
    document.body.dataset.ready = 'true';
  }

  showTab(name) {
    for (const tab of this.ui.tabs) tab.setAttribute('aria-selected', String(tab.dataset.tab === name));
    for (const pane of this.ui.panes) pane.hidden = pane.dataset.pane !== name;
  }

  /* ----- connection lifecycle */

  /** With keys configured: take the typed key and load the options it opens; false if refused. */
  async #authorize() {
    const key = this.ui.apiKey.value.trim();
    if (!key) {
      this.errors.add('This server needs an API key: enter it and press Connect.', 'auth_required');
      this.ui.apiKey.focus();
      return false;
    }
    setKey(key);
    this.errors.clear();
    await this.#loadOptions(...(this.#pendingOptions ?? [null, this.ui.transport.value]));
    return this.#pendingOptions === null;
  }

  async connect() {
    if (this.#pendingOptions && !(await this.#authorize())) return;
    const generation = ++this.#generation;
    // After a dropped connection, Connect resumes the same session (the server parks it a while).
    const resume = debug.state === 'error' && debug.sessionId;
    const sessionId = new URLSearchParams(location.search).get('session') || resume || randomId();
    if (sessionId === resume) this.conversation.note(null, 'reconnect', 'reconnecting to the same session');
    else this.#resetForSession(sessionId);
    this.setState('connecting');
    const choice = this.ui.transport.value;
    const kind = choice === 'direct' && this.direct ? 'direct' : choice === 'webrtc' && this.config.enabled ? 'webrtc' : 'websocket';

    // Audio first, synchronously inside the click, so the AudioContext may start playing.
    this.audio = new AudioEngine({
      onCapture: (pcm) => this.#sendAudio(pcm),
      onLevel: (level) => this.ui.level.style.setProperty('--level', Math.min(1, level * 4).toFixed(3)),
      onPlaying: (playing) => this.#setActivity('agent', playing),
    });
    const audioReady = this.#startAudio(this.audio, generation);
    if (kind === 'websocket') {
      this.#open(new WebSocketTransport(sessionId, { agent: this.ui.agent.value }), generation);
      return;
    }
    await audioReady; // the offer carries the microphone track
    if (!this.#current(generation)) return;
    const transport = new WebRtcTransport(sessionId, {
      iceServers: this.config.ice_servers,
      agent: this.ui.agent.value,
      direct: kind === 'direct',
    });
    this.#open(transport, generation);
    try {
      await transport.connect(this.audio?.micTrack ?? null);
      if (kind === 'direct' && this.#current(generation)) debug.callId = transport.sessionId;
    } catch (err) {
      if (!this.#current(generation)) return;
      if (err instanceof OfferError && err.status === 404 && kind === 'webrtc') {
        this.errors.add('WebRTC is turned off on this server; using the WebSocket.', 'webrtc_disabled');
        transport.close();
        this.#open(new WebSocketTransport(sessionId, { agent: this.ui.agent.value }), generation);
        return;
      }
      this.#onClosed({ code: 0, reason: err.message || String(err), opened: false });
    }
  }

  #open(transport, generation) {
    const live = (fn) => (detail) => this.#current(generation) && fn(detail);
    transport
      .on('open', live(() => this.setState('connected')))
      .on('event', live((event) => this.#onServerEvent(event)))
      .on('audio', live((buffer) => this.#onServerAudio(buffer)))
      .on('state', live((state) => this.#showTransport(state)))
      .on('remote-stream', live((stream) => this.#playRemote(stream)))
      .on('bad-frame', live(() => this.errors.add('the server sent a message that is not JSON')))
      .on('close', live((info) => this.#onClosed(info)));
    this.transport = transport;
    debug.transport = transport.kind;
    this.#showTransport();
    if (transport.kind === 'websocket') transport.connect();
  }

  /** Playback, then the microphone; either may fail and typing still works. */
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

  /** The agent's voice over WebRTC: an <audio> element plays it (echo cancellation applies). */
  #playRemote(stream) {
    const player = this.ui.agentAudio;
    player.srcObject = stream;
    player.play().catch(() => this.errors.add('the browser blocked audio playback; click the page to allow it'));
    this.audio?.monitor(stream, (level) => {
      if (level < AGENT_AUDIO_LEVEL) return;
      debug.audioFramesReceived++;
      this.#agentAudioHeard();
    });
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
      ? `connection closed (${reason || `code ${code}`})`
      : `could not connect to ${location.host}${reason ? `: ${reason}` : ''}`;
    this.setState('error', why);
    this.errors.add(why, 'connection');
  }

  #teardown() {
    this.transport?.close();
    this.transport = null;
    this.audio?.stop();
    this.audio = null;
    this.ui.agentAudio.srcObject = null;
    this.muted = false;
    this.#setActivity('agent', false);
    this.#setActivity('user', false);
    this.ui.level.style.setProperty('--level', '0');
    this.#showMic('off');
    this.#showTransport();
  }

  /** A new session id means a new conversation: start the views and test counters afresh. */
  #resetForSession(sessionId) {
    Object.assign(debug, { sessionId, audioFramesReceived: 0, audioBytesReceived: 0, audioFramesSent: 0, agentAudioChunks: 0 });
    debug.events.length = 0;
    debug.eventTimes.length = 0;
    debug.agentAudioTimes.length = 0;
    debug.errors.length = 0;
    this.conversation.clear();
    this.events.clear();
    this.tools.clear();
    this.runs.clear();
    this.metrics.clear();
    this.errors.clear();
    this.#speechStoppedAt = this.#responseId = null;
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
    this.ui.status.textContent = state === 'error' ? 'error' : state;
    this.ui.status.title = text;
    this.ui.status.dataset.state = state;
    const active = state === 'connecting' || state === 'connected';
    this.ui.connect.textContent = active ? 'Disconnect' : 'Connect';
    this.ui.connect.classList.toggle('danger', active);
    this.ui.transport.disabled = active;
    this.ui.agent.disabled = active;
    document.body.dataset.state = state;
    const live = state === 'connected';
    for (const control of [this.ui.mute, this.ui.interrupt, this.ui.send]) control.disabled = !live;
    this.#renderMute();
  }

  #showTransport(peerState) {
    const kind = this.transport?.kind;
    const label = { webrtc: 'WebRTC', direct: 'Direct WebRTC', websocket: 'WebSocket' }[kind];
    this.ui.transportDetail.textContent = !kind ? '' : kind === 'websocket' ? label : `${label}${peerState ? ` · ${peerState}` : ''}`;
    if (peerState) this.ui.transportDetail.dataset.peerState = peerState;
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

  #send(event) {
    if (!this.transport?.send(event)) return false;
    this.events.add(event, 'out');
    return true;
  }

  sendText(value) {
    const text = value.trim();
    if (!text) return false;
    if (this.transport?.ga) {
      // GA events only: the message, then a response (what the `text` shortcut does)
      const item = { type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
      if (!this.#send({ type: 'conversation.item.create', item })) return false;
      this.#send({ type: 'response.create' });
    } else if (!this.#send({ type: 'text', text })) return false;
    this.conversation.userTyped(text);
    return true;
  }

  interrupt() {
    if (this.transport?.ga) {
      // as with OpenAI over WebRTC: stop the response, and the audio already queued on the track
      if (this.#responseId) this.#send({ type: 'response.cancel' });
      this.#send({ type: 'output_audio_buffer.clear' });
    } else this.#send({ type: 'interrupt' });
    this.audio?.flush();
  }

  #sendAudio(pcm) {
    if (this.muted || !this.transport?.carriesAudio || !this.transport.sendAudio(pcm)) return;
    debug.audioFramesSent++;
  }

  /* ----- incoming */

  #onServerAudio(buffer) {
    debug.audioFramesReceived++;
    debug.audioBytesReceived += buffer.byteLength;
    this.#agentAudioHeard();
    this.audio?.play(buffer); // transfers (detaches) the buffer
  }

  /** Agent audio reached the page: the first of a spoken turn's reply closes voice-to-voice. */
  #agentAudioHeard() {
    debug.agentAudioChunks++;
    debug.agentAudioTimes.push(performance.now());
    if (this.#speechStoppedAt != null && this.#responseId) {
      this.metrics.voiceToVoice(this.#responseId, performance.now() - this.#speechStoppedAt);
      this.#speechStoppedAt = null;
    }
  }

  /** Handle a server event as if it had arrived (tests and demos replay recorded events). */
  receive(event) {
    this.#onServerEvent(event);
  }

  #onServerEvent(event) {
    if (!event || typeof event.type !== 'string') return;
    debug.events.push(event);
    debug.eventTimes.push(performance.now());
    this.events.add(event);
    this.handlers[event.type]?.(event);
    if (event.type.startsWith('voxgate.run.')) this.runs.handle(event);
  }

  /** The user barged in (or interrupted): stop the agent's voice now. */
  #bargeIn() {
    this.audio?.flush();
  }

  #eventHandlers() {
    const c = this.conversation;
    const agentDelta = (e) => c.agentDelta(e.item_id, e.delta);
    const userItem = (e) => e.item?.role === 'user' && c.userItem(e.item);
    const agentSpeaking = (on) => () => this.#setActivity('agent', on);
    return {
      'input_audio_buffer.speech_started': (e) => {
        this.#bargeIn();
        this.#setActivity('user', true);
        c.userSpeaking(e.item_id);
      },
      'input_audio_buffer.speech_stopped': () => {
        this.#setActivity('user', false);
        this.#speechStoppedAt = performance.now();
        this.#responseId = null;
      },
      'input_audio_buffer.committed': (e) => c.userCommitted(e.item_id),
      'input_audio_buffer.cleared': () => {
        this.#setActivity('user', false);
        c.dropUncommitted();
      },
      'output_audio_buffer.started': agentSpeaking(true),
      'output_audio_buffer.stopped': agentSpeaking(false),
      'output_audio_buffer.cleared': agentSpeaking(false),
      'conversation.item.added': userItem,
      'conversation.item.done': userItem,
      'conversation.item.deleted': (e) => c.remove(e.item_id),
      'conversation.item.input_audio_transcription.completed': (e) => c.userTranscript(e.item_id, e.transcript),
      'conversation.item.input_audio_transcription.failed': (e) => {
        c.userTranscriptionFailed(e.item_id);
        this.#error(e.error?.message ?? 'transcription failed', e.error?.code);
      },
      'response.created': (e) => (this.#responseId = e.response?.id ?? null),
      'response.output_audio_transcript.delta': agentDelta,
      'response.output_text.delta': agentDelta,
      'response.output_audio_transcript.done': (e) => c.agentDone(e.item_id, e.transcript),
      'response.output_text.done': (e) => c.agentDone(e.item_id, e.text),
      'response.function_call_arguments.done': (e) => this.tools.functionCall(e),
      'response.done': (e) => this.#onResponseDone(e.response ?? {}),
      'conversation.item.truncated': (e) => c.markInterrupted(e.item_id),
      'voxgate.metrics': (e) => this.metrics.metrics(e.response_id, e.metrics ?? {}),
      'voxgate.tool.started': (e) => {
        this.tools.started(e);
        c.note(e.call_id, 'tool', `${e.name}(${compactJson(e.arguments)}) …`, 'running');
      },
      'voxgate.tool.completed': (e) => {
        this.tools.completed(e);
        const result = e.status === 'ok' ? compactJson(e.output) : e.status;
        c.note(e.call_id, 'tool', `${e.name}(${compactJson(e.arguments)}) → ${result} · ${Math.round(e.duration_ms)} ms`, e.status === 'ok' ? '' : 'failed');
      },
      'voxgate.handoff': (e) => {
        this.tools.handoff(e);
        c.note(null, 'handoff', `${e.from} → ${e.to}`);
      },
      'voxgate.run.started': (e) => c.note(e.run_id, 'run', `${e.agent}: started “${e.task}”`, 'running'),
      'voxgate.run.event': (e) => {
        const data = e.event?.data ?? {};
        if (e.event?.type === 'textmessage') c.note(null, 'run', `${data.source ?? e.agent}: ${data.content}`);
        else if (e.event?.type === 'toolcallrequest') c.note(null, 'run tool', `${data.source ?? e.agent} calls ${(data.calls ?? []).map((x) => x.name).join(', ')}`);
      },
      'voxgate.run.status': (e) =>
        c.note(e.run_id, 'run', `${e.agent}: ${e.status}${e.error ? ` (${e.error})` : ''}`, e.status === 'failed' ? 'failed' : ''),
      'voxgate.webrtc.state': (e) => this.#showTransport(e.connection_state),
      error: (e) => this.#error(e.error?.message ?? 'unknown error', e.error?.code),
    };
  }

  #error(message, code) {
    debug.errors.push({ message, code });
    this.errors.add(message, code);
  }

  #onResponseDone(response) {
    this.metrics.usageOf(response);
    if (response.status === 'cancelled') {
      this.#bargeIn();
      for (const item of response.output ?? []) this.conversation.markInterrupted(item.id);
    } else if (response.status === 'failed') {
      const error = response.status_details?.error;
      this.#error(error?.message ?? 'the response failed', error?.code);
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
  transportDetail: byTestId('transport-detail'),
  session: byTestId('session'),
  transport: byTestId('transport'),
  agent: byTestId('agent'),
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
  eventsFilter: byTestId('events-filter'),
  hideDeltas: byTestId('events-hide-deltas'),
  eventsCount: byTestId('events-count'),
  tools: byTestId('tools'),
  toolsCount: byTestId('tools-count'),
  toolsEmpty: byTestId('tools-empty'),
  currentAgent: byTestId('current-agent'),
  runs: byTestId('runs'),
  runsCount: byTestId('runs-count'),
  runsEmpty: byTestId('runs-empty'),
  agentAudio: byTestId('agent-audio'),
  apiKey: byTestId('api-key'),
  apiKeyField: byTestId('api-key-field'),
  tabs: [...document.querySelectorAll('[role="tab"]')],
  panes: [...document.querySelectorAll('[role="tabpanel"]')],
};

debug.app = new App(ui);
