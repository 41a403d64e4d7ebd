// voxgate web client (no build step): WebRTC or WebSocket to a session (or, in browser-direct
// mode, WebRTC straight to the server's Realtime upstream), a live conversation,
// the raw events, tools & handoffs, background runs, per-turn latency and the history of past
// conversations (docs/protocol.md).
//
// Modules (js/): util, audio (AudioContext + worklets), ws-transport, webrtc-transport, turn
// (the turn-state pill), tabs, handlers (the server's events), catch-up and views/ for each pane.
// This file wires them and runs the connection: connect, disconnect, reconnect with backoff.
// `?session=` joins a conversation (the Copy link), `?role=listener` joins it to listen only.

import { AudioEngine } from './js/audio.js';
import { auth, keyAccepted, renderAccount, setKey, takeTypedKey, whoAmI } from './js/auth.js';
import { serverEventHandlers } from './js/handlers.js';
import { wireTabs } from './js/tabs.js';
import { TurnIndicator } from './js/turn.js';
import { findUi } from './js/ui.js';
import { HoldToTalk } from './js/record.js';
import { ImageComposer } from './js/images.js';
import { Reconnector } from './js/reconnect.js';
import { debug, describeMediaError, randomId } from './js/util.js';
import { ConversationView } from './js/views/conversation.js';
import { ErrorView } from './js/views/errors.js';
import { EventsView } from './js/views/events.js';
import { HistoryView } from './js/views/history.js';
import { MetricsView } from './js/views/metrics.js';
import { ParticipantsView } from './js/views/participants.js';
import { RunsView } from './js/views/runs.js';
import { SessionView } from './js/views/session.js';
import { ToolsView } from './js/views/tools.js';
import { OfferError, WebRtcTransport, clientConfig } from './js/webrtc-transport.js';
import { WebSocketTransport } from './js/ws-transport.js';

const AGENT_AUDIO_LEVEL = 0.01; // a 40 ms chunk of remote audio louder than this is agent speech

class App {
  transport = null;
  audio = null;
  muted = false;
  micState = 'off'; // 'off' | 'live' | 'error'
  config = { enabled: true, ice_servers: [] };
  direct = false; // the server offers browser-direct mode
  features = { live_voice: true, webrtc: true, direct_mode: false }; // what this key's role may use
  sessionId = null; // kept across Disconnect / Connect: the same conversation, if the server has it
  role = 'speaker'; // or 'listener' (?role=listener): heard by nobody, hears everything
  #removed = false; // this page was removed from the session: do not reconnect by itself
  #generation = 0; // bumps on every connect/disconnect; stale async work checks it
  #pendingOptions = null; // [agent, transport] to load once the page has a key

  constructor(ui) {
    this.ui = ui;
    this.conversation = new ConversationView(ui.conversation, { announcer: ui.announcer, onChange: () => this.#renderEmpty() });
    this.turn = new TurnIndicator(ui.activity, { onThinking: (on) => this.conversation.agentThinking(on), announcer: ui.turnAnnouncer });
    this.events = new EventsView(ui.events, { filter: ui.eventsFilter, hideDeltas: ui.hideDeltas, count: ui.eventsCount, empty: ui.eventsEmpty });
    this.tools = new ToolsView(ui.tools, { count: ui.toolsCount, agent: ui.currentAgent, empty: ui.toolsEmpty });
    this.runs = new RunsView(ui.runs, { count: ui.runsCount, empty: ui.runsEmpty });
    this.metrics = new MetricsView(ui.metrics, ui.latencyReadout);
    this.errors = new ErrorView(ui.errors);
    this.session = new SessionView(ui.session, ui.copyLink);
    this.history = new HistoryView(ui.history, { onResume: (id) => this.resume(id) });
    this.participants = new ParticipantsView(ui.participants, {
      count: ui.participantsCount,
      empty: ui.participantsEmpty,
      session: () => this.sessionId,
      onError: (message) => this.errors.add(message, 'participant_control'),
    });
    this.reconnect = new Reconnector(this);
    this.handlers = serverEventHandlers(this);
    this.holdToTalk = new HoldToTalk(ui.holdToTalk, ui.composerHint, this);
    this.images = new ImageComposer(this);

    ui.connect.addEventListener('click', () => (this.transport || this.reconnect.pending ? this.disconnect() : this.connect()));
    ui.mute.addEventListener('click', () => this.setMuted(!this.muted));
    ui.interrupt.addEventListener('click', () => this.interrupt());
    ui.newConversation.addEventListener('click', () => this.newConversation());
    ui.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      const sent = this.images.attached ? this.images.send(ui.textInput.value.trim()) : this.sendText(ui.textInput.value);
      if (sent) ui.textInput.value = '';
    });
    ui.textInput.addEventListener('input', () => (ui.composerHint.textContent = ''));
    this.showTab = wireTabs(ui.tabs, ui.panes, (name) => name === 'history' && this.history.refresh());
    const params = new URLSearchParams(location.search);
    this.sessionId = params.get('session') || null;
    this.role = params.get('role') === 'listener' ? 'listener' : 'speaker';
    const transport = params.get('transport') ?? localStorage.getItem('voxgate.transport') ?? 'webrtc';
    ui.transport.value = transport === 'websocket' ? 'websocket' : 'webrtc';
    ui.transport.addEventListener('change', () => localStorage.setItem('voxgate.transport', ui.transport.value));
    ui.agent.addEventListener('change', () => this.tools.setAgent(ui.agent.value));
    ui.signIn.addEventListener('submit', (e) => {
      e.preventDefault();
      this.signIn();
    });
    ui.signOut.addEventListener('click', () => this.signOut());
    this.setState('disconnected');
    this.ready = this.#loadOptions(params.get('agent'), transport);
  }

  /** The server's features and ICE servers; the agents it offers (or: it wants a key). */
  async #loadOptions(agent, transport) {
    const config = await clientConfig();
    if (!keyAccepted(config, this.ui, this.errors)) {
      this.#pendingOptions = [agent, transport];
      renderAccount(this.ui);
      document.body.dataset.ready = 'true';
      return;
    }
    this.#pendingOptions = null;
    if (auth.required) await whoAmI();
    renderAccount(this.ui);
    this.holdToTalk.configure(config.record_and_send);
    this.images.configure(config.images);
    this.config = config.webrtc ?? this.config;
    this.features = config.features ?? { live_voice: true, webrtc: this.config.enabled, direct_mode: Boolean(config.direct?.enabled) };
    this.#showTransports(transport);
    const agents = (config.agents ?? []).map((a) => (typeof a === 'string' ? a : a.name)).filter(Boolean);
    const options = agents.length ? agents.map((name) => new Option(name.replaceAll('_', ' '), name)) : [new Option('default', '')];
    this.ui.agent.replaceChildren(...options);
    this.ui.agent.dataset.count = String(agents.length);
    if (agent && agents.includes(agent)) this.ui.agent.value = agent;
    this.tools.setAgent(this.ui.agent.value);
    document.body.dataset.ready = 'true';
  }

  /** Offer the transports this key's role may use; none: Connect stays off, and says why. */
  #showTransports(wanted) {
    const select = this.ui.transport;
    select.querySelector('option[value="direct"]')?.remove();
    this.config.enabled = Boolean(this.features.webrtc) && this.config.enabled !== false;
    this.direct = Boolean(this.features.direct_mode) && this.config.enabled;
    if (this.direct) {
      const option = new Option('Direct (WebRTC to the upstream)', 'direct');
      option.title = 'Your browser talks to the Realtime service; voxgate keeps the key and runs the tools';
      select.append(option);
    }
    const offered = { webrtc: this.config.enabled, websocket: Boolean(this.features.live_voice), direct: this.direct };
    for (const option of select.options) option.disabled = !offered[option.value];
    select.title = this.config.enabled ? '' : 'WebRTC is turned off on this server';
    const choice = [wanted, select.value, 'webrtc', 'websocket', 'direct'].find((t) => offered[t]);
    if (choice) select.value = choice;
    this.ui.connect.disabled = !choice;
    if (choice) this.errors.clear('no_live');
    else {
      const role = auth.me?.role ? ` to role ${auth.me.role}` : '';
      this.errors.add(`Live sessions are not available${role} on this server.`, 'no_live_session', { key: 'no_live' });
    }
  }

  /** Take the typed key, and show who it signs in as (or why the server refused it). */
  async signIn() {
    if (!takeTypedKey(this.ui.apiKey, this.errors)) return;
    const [agent, transport] = this.#pendingOptions ?? [this.ui.agent.value, this.ui.transport.value];
    await this.#loadOptions(agent, transport);
  }

  /** Forget the key: disconnect, and ask for a key again. */
  async signOut() {
    if (this.transport || this.reconnect.pending) this.disconnect();
    setKey(null);
    this.errors.clear();
    await this.#loadOptions(this.ui.agent.value, this.ui.transport.value);
  }

  /* ----- connection lifecycle */

  async connect({ auto = false } = {}) {
    this.reconnect.cancel();
    if (!(await this.keyReady())) return;
    const choice = this.ui.transport.value;
    const kind = choice === 'direct' && this.direct ? 'direct' : choice === 'webrtc' && this.config.enabled ? 'webrtc' : this.features.live_voice ? 'websocket' : null;
    if (!kind) return; // nothing this role may use: #showTransports said so
    const generation = ++this.#generation;
    this.#removed = false;
    if (!this.sessionId) this.#startSession(randomId());
    else if (!auto && !this.conversation.isEmpty) this.reconnect.rejoining();
    debug.sessionId = this.sessionId;
    this.session.show(this.sessionId);
    this.setState(auto ? 'reconnecting' : 'connecting');
    const sessionId = this.sessionId;

    // Audio first, synchronously inside the click, so the AudioContext may start playing.
    this.audio = new AudioEngine({
      onCapture: (pcm) => this.#sendAudio(pcm),
      onLevel: (level) => this.ui.level.style.setProperty('--level', Math.min(1, level * 4).toFixed(3)),
      onPlaying: (playing) => this.agentPlaying(playing),
    });
    const audioReady = this.#startAudio(this.audio, generation);
    if (kind === 'websocket') {
      this.#open(new WebSocketTransport(sessionId, { agent: this.ui.agent.value, role: this.role }), generation);
      return;
    }
    await audioReady; // the offer carries the microphone track
    if (!this.#current(generation)) return;
    const transport = new WebRtcTransport(sessionId, {
      iceServers: this.config.ice_servers,
      agent: this.ui.agent.value,
      direct: kind === 'direct',
      role: this.role,
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
        this.#open(new WebSocketTransport(sessionId, { agent: this.ui.agent.value, role: this.role }), generation);
        return;
      }
      const refused = err instanceof OfferError && err.status < 500;
      this.#onClosed({ code: err.status ?? 0, reason: err.message || String(err), opened: false, refused });
    }
  }

  /** The server wants a key: take the typed one, then the options it opens; false if none. */
  async keyReady() {
    if (!this.#pendingOptions) return true;
    if (!takeTypedKey(this.ui.apiKey, this.errors)) return false;
    await this.#loadOptions(...this.#pendingOptions);
    return !this.#pendingOptions;
  }

  /** The conversation's id for record-and-send, made on its first turn if there is none. */
  conversationId() {
    if (!this.sessionId) this.#startSession(randomId());
    this.session.show(this.sessionId);
    return this.sessionId;
  }

  #open(transport, generation) {
    const live = (fn) => (detail) => this.#current(generation) && fn(detail);
    transport
      .on('open', live(() => this.#onOpen()))
      .on('event', live((event) => this.#onServerEvent(event)))
      .on('audio', live((buffer) => this.#onServerAudio(buffer)))
      .on('state', live((state) => this.showTransport(state)))
      .on('remote-stream', live((stream) => this.#playRemote(stream)))
      .on('bad-frame', live(() => this.errors.add('The server sent a message the page cannot read.', 'bad_frame')))
      .on('close', live((info) => this.#onClosed(info)));
    this.transport = transport;
    debug.transport = transport.kind;
    this.showTransport();
    if (transport.kind === 'websocket') transport.connect();
  }

  #onOpen() {
    this.reconnect.opened();
    this.ui.composerHint.textContent = '';
    this.setState('connected');
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
    if (this.role === 'listener') {
      this.#showMic('off', 'Listening only.');
      return;
    }
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
    player.play().catch(() => this.errors.add('The browser blocked the agent’s voice: click the page to allow it.', 'autoplay'));
    this.audio?.monitor(stream, (level) => {
      if (level < AGENT_AUDIO_LEVEL) return;
      debug.audioFramesReceived++;
      this.agentAudioHeard();
    });
  }

  disconnect() {
    this.reconnect.stop();
    this.#generation++;
    this.#teardown();
    this.errors.clear('connection');
    this.setState('disconnected');
  }

  /** Forget the conversation on screen and start a new session at the next Connect. */
  newConversation() {
    if (this.transport) this.disconnect();
    this.#startSession(randomId());
    this.session.show(null);
    if (new URLSearchParams(location.search).has('session')) {
      const url = new URL(location.href);
      url.searchParams.delete('session');
      history.replaceState(null, '', url.href);
    }
    this.setState('disconnected');
  }

  /** Connect to a stored conversation: the server restores its history into the session. */
  resume(sessionId) {
    if (this.transport || this.reconnect.pending) this.disconnect();
    this.#startSession(sessionId);
    this.session.show(sessionId);
    this.connect();
  }

  #current(generation) {
    return generation === this.#generation;
  }

  /** A dropped connection: say what happened in words, then retry with backoff. */
  #onClosed(info) {
    this.#generation++;
    this.#teardown();
    if (this.#removed || info.code === 4000) {
      // removed by whoever runs the conversation: come back only when asked to
      this.reconnect.closed({ ...info, code: 4000, reason: 'removed from the session', refused: true });
      return;
    }
    this.reconnect.closed(info);
  }

  /** The server says this page was removed from the session; its connection ends next. */
  removedFromSession() {
    this.#removed = true;
  }

  sessionCreated(session) {
    this.reconnect.sessionCreated(session);
  }

  #teardown() {
    this.transport?.close();
    this.transport = null;
    this.audio?.stop();
    this.audio = null;
    this.ui.agentAudio.srcObject = null;
    this.participants.clear();
    this.muted = false;
    this.turn.reset();
    this.playing = false;
    this.ui.level.style.setProperty('--level', '0');
    this.#showMic('off');
    this.showTransport();
  }

  /** A new session id means a new conversation: start the views and test counters afresh. */
  #startSession(sessionId) {
    this.sessionId = sessionId;
    Object.assign(debug, { sessionId, audioFramesReceived: 0, audioBytesReceived: 0, audioFramesSent: 0, agentAudioChunks: 0, caughtUp: null });
    for (const list of [debug.events, debug.eventTimes, debug.agentAudioTimes, debug.errors, debug.serverSessions]) list.length = 0;
    this.conversation.clear();
    this.events.clear();
    this.tools.clear();
    this.tools.setAgent(this.ui.agent.value);
    this.runs.clear();
    this.metrics.clear();
    this.errors.clear();
    this.reconnect.forgetNote();
    this.handlers.reset();
  }

  /* ----- UI state */

  setState(state, detail) {
    const labels = { disconnected: 'Disconnected', connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', error: 'Not connected' };
    Object.assign(debug, { state, statusText: detail ? `${state}: ${detail}` : state });
    this.ui.status.textContent = labels[state] ?? state;
    this.ui.status.title = detail ?? '';
    this.ui.status.dataset.state = state;
    const active = state !== 'disconnected' && state !== 'error';
    this.ui.connect.textContent = active ? 'Disconnect' : 'Connect';
    this.ui.connect.classList.toggle('danger', active);
    this.ui.transport.disabled = active;
    this.ui.agent.disabled = active;
    this.holdToTalk.setLive(active);
    document.body.dataset.state = state;
    const live = state === 'connected';
    this.ui.interrupt.disabled = !live;
    this.ui.newConversation.hidden = active || this.conversation.isEmpty;
    this.#renderMute();
    this.#renderEmpty();
  }

  #renderEmpty() {
    this.ui.conversationEmpty.hidden = !this.conversation.isEmpty || debug.state === 'connected';
    if (!this.transport) this.ui.newConversation.hidden = this.conversation.isEmpty;
  }

  showTransport(peerState) {
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

  /** Mute follows the microphone: nothing to mute without one; the status says which it is. */
  #renderMute() {
    const mic = debug.state === 'connected' && this.micState === 'live';
    this.ui.mute.disabled = !mic;
    this.ui.mute.textContent = this.muted ? 'Unmute' : 'Mute';
    this.ui.mute.setAttribute('aria-pressed', String(this.muted));
    this.ui.micBox.classList.toggle('muted', this.muted);
    if (this.micState === 'live') {
      this.ui.micBox.dataset.state = this.muted ? 'muted' : 'live';
      this.ui.micStatus.textContent = this.muted ? 'microphone muted' : `microphone on (${this.audio?.sampleRate ?? '?'} Hz)`;
    }
  }

  #showMic(state, message) {
    this.micState = state;
    this.ui.micBox.dataset.state = state;
    this.ui.micStatus.textContent = state === 'error' ? `${message} You can still type.` : (message ?? 'microphone off');
    this.#renderMute();
  }

  /** Agent audio is playing (WebSocket playback, or WebRTC's output_audio_buffer events). */
  agentPlaying(on) {
    this.playing = on;
    if (on) this.turn.set('speaking');
    else if (this.turn.state === 'speaking' && !this.handlers.responding) this.turn.set('idle');
  }

  /* ----- outgoing */

  send(event) {
    if (!this.transport?.send(event)) return false;
    this.events.add(event, 'out');
    return true;
  }

  sendText(value) {
    const text = value.trim();
    if (!text) return false;
    if (!this.transport?.isOpen) {
      this.ui.composerHint.textContent = debug.state === 'connecting' || debug.state === 'reconnecting'
        ? 'Still connecting: send again in a moment.'
        : 'Not connected: press Connect first, then send.';
      return false;
    }
    if (this.transport.ga) {
      // GA events only: the message, then a response (what the `text` shortcut does)
      const item = { type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
      if (!this.send({ type: 'conversation.item.create', item })) return false;
      this.send({ type: 'response.create' });
    } else if (!this.send({ type: 'text', text })) return false;
    this.conversation.userTyped(text);
    this.handlers.userTurnEnded();
    return true;
  }

  interrupt() {
    if (this.transport?.ga) {
      // as with OpenAI over WebRTC: stop the response, and the audio already queued on the track
      if (this.handlers.responseId) this.send({ type: 'response.cancel' });
      this.send({ type: 'output_audio_buffer.clear' });
    } else this.send({ type: 'interrupt' });
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
    this.agentAudioHeard();
    this.audio?.play(buffer); // transfers (detaches) the buffer
  }

  agentAudioHeard() {
    debug.agentAudioChunks++;
    debug.agentAudioTimes.push(performance.now());
    this.handlers.audioHeard();
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
    this.handlers.handle(event);
    if (event.type.startsWith('voxgate.run.')) this.runs.handle(event);
  }
}

debug.app = new App(findUi()); // boot
