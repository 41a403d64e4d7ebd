// The server's events (docs/protocol.md): what each one changes on the page, and whose turn it is.
import { CatchUp } from './catch-up.js';
import { compactJson, debug } from './util.js';

/**
 * Handlers for `app`'s server events. Besides the views, they keep the turn state: a user turn
 * ends (speech stopped, or text sent) → thinking; the reply's first words or sound → speaking;
 * the reply done and its audio played → idle. A reply cancelled or failed before it said
 * anything leaves a note in the conversation. Responses are grouped by the user's turn for the
 * latency panel (a tool turn is one turn, however many responses it takes).
 */
export function serverEventHandlers(app) {
  const c = app.conversation;
  const turn = app.turn;
  const catchUp = new CatchUp(c); // a conversation joined under way: its earlier turns
  const state = { responseId: null, responding: false, userTurn: 0, speechStoppedAt: null, said: false, runTasks: new Map() };
  const speak = () => {
    state.said = true;
    if (turn.state === 'thinking') turn.set('speaking'); // (late audio after the end: no)
  };
  const agentDelta = (e) => {
    c.agentDelta(e.item_id, e.delta);
    speak();
  };
  const userItem = (e) => e.item?.role === 'user' && c.userItem(e.item);
  const added = (e) => {
    // an assistant item added whole is a restored one (a live reply starts empty)
    if (e.item?.role === 'assistant' && e.item.type === 'message') c.agentItem(e.item);
    else userItem(e);
  };
  const runNote = (e, text, mark = '') => {
    const task = state.runTasks.get(e.run_id);
    c.note(e.run_id, 'run', task ? `${text} — “${task}”` : text, mark);
  };

  function userTurnEnded() {
    state.userTurn++;
    turn.set('thinking');
  }

  function responseDone(response) {
    state.responding = false;
    app.metrics.usageOf(response);
    const output = response.output ?? [];
    if (response.status === 'cancelled') {
      app.audio?.flush(); // the voice stops now: nothing more is playing
      app.playing = false;
      for (const item of output) c.markInterrupted(item.id);
      if (state.said) {
        // cut short: its bubble says so
      } else if (turn.state === 'listening') c.note(null, 'cancelled', 'Reply dropped: you were still speaking.', 'cancelled');
      else c.note(null, 'cancelled', 'Reply cancelled before the agent said anything.', 'cancelled');
    } else if (response.status === 'failed' || response.status === 'incomplete') {
      const error = response.status_details?.error;
      const reason = error?.message ?? response.status_details?.reason ?? 'no reason given';
      c.note(null, 'failed', `The reply ${response.status === 'failed' ? 'failed' : 'stopped early'}: ${reason}.`, 'failed');
      if (response.status === 'failed') app.errors.add(`The reply failed: ${reason}.`, error?.code);
    } else if (output.some((item) => item.type === 'function_call') && !state.said) {
      return; // a tool runs; its result brings the next response of the same turn
    }
    if (!app.playing && turn.state !== 'listening') turn.set('idle', response.status);
  }

  const table = {
    'session.created': (e) => {
      catchUp.arm(app.sessionId); // before sessionCreated adds a note: is anything on screen yet?
      app.sessionCreated(e.session);
    },
    'input_audio_buffer.speech_started': (e) => {
      app.audio?.flush(); // the user barged in: stop the agent's voice now
      turn.set('listening');
      c.userSpeaking(e.item_id);
    },
    'input_audio_buffer.speech_stopped': () => {
      state.speechStoppedAt = performance.now();
      state.responseId = null;
      userTurnEnded();
    },
    'input_audio_buffer.committed': (e) => c.userCommitted(e.item_id),
    'input_audio_buffer.cleared': () => {
      if (turn.state === 'listening') turn.set('idle');
      c.dropUncommitted();
    },
    'output_audio_buffer.started': () => state.responding && app.agentPlaying(true),
    'output_audio_buffer.stopped': () => app.agentPlaying(false),
    'output_audio_buffer.cleared': () => app.agentPlaying(false),
    'conversation.item.added': added,
    'conversation.item.done': userItem,
    'conversation.item.deleted': (e) => c.remove(e.item_id),
    'conversation.item.input_audio_transcription.completed': (e) => {
      c.userTranscript(e.item_id, e.transcript);
      // noise, not words: no reply is coming
      if (!(e.transcript ?? '').trim() && turn.state === 'thinking' && !state.responding) turn.set('idle');
    },
    'conversation.item.input_audio_transcription.failed': (e) => {
      c.userTranscriptionFailed(e.item_id);
      debug.errors.push({ message: e.error?.message, code: e.error?.code });
      app.errors.add(e.error?.message ?? 'Your words could not be transcribed.', e.error?.code);
    },
    'response.created': (e) => {
      state.responseId = e.response?.id ?? null;
      state.responding = true;
      state.said = false;
      if (state.responseId) app.metrics.bind(state.responseId, state.userTurn);
      if (turn.state === 'idle') turn.set('thinking'); // a reply nobody asked for: a run's narration
    },
    'response.output_audio_transcript.delta': agentDelta,
    'response.output_text.delta': agentDelta,
    'response.output_audio_transcript.done': (e) => c.agentDone(e.item_id, e.transcript),
    'response.output_text.done': (e) => c.agentDone(e.item_id, e.text),
    'response.function_call_arguments.done': (e) => app.tools.functionCall(e),
    'response.done': (e) => responseDone(e.response ?? {}),
    'conversation.item.truncated': (e) => c.markInterrupted(e.item_id),
    'voxgate.metrics': (e) => app.metrics.metrics(e.response_id, e.metrics ?? {}, e.cost_usd),
    'voxgate.tool.started': (e) => {
      app.tools.started(e);
      c.note(e.call_id, 'tool', `${e.name}(${compactJson(e.arguments)}) …`, 'running');
    },
    'voxgate.tool.completed': (e) => {
      app.tools.completed(e);
      const result = e.status === 'ok' ? compactJson(e.output) : e.status;
      c.note(e.call_id, 'tool', `${e.name}(${compactJson(e.arguments)}) → ${result} · ${Math.round(e.duration_ms)} ms`, e.status === 'ok' ? '' : 'failed');
    },
    'voxgate.handoff': (e) => {
      app.tools.handoff(e);
      c.note(null, 'handoff', `${e.from} → ${e.to}`);
    },
    'voxgate.run.started': (e) => {
      if (e.task) state.runTasks.set(e.run_id, e.task);
      runNote(e, `${e.agent}: started`, 'running');
    },
    'voxgate.run.event': (e) => {
      const data = e.event?.data ?? {};
      if (e.event?.type === 'textmessage') c.note(null, 'run', `${data.source ?? e.agent}: ${data.content}`);
      else if (e.event?.type === 'toolcallrequest') c.note(null, 'run tool', `${data.source ?? e.agent} calls ${(data.calls ?? []).map((x) => x.name).join(', ')}`);
    },
    'voxgate.run.status': (e) => runNote(e, `${e.agent}: ${e.status}${e.error ? ` (${e.error})` : ''}`, e.status === 'failed' ? 'failed' : ''),
    'voxgate.webrtc.state': (e) => app.showTransport(e.connection_state),
    'voxgate.participant.joined': (e) => {
      app.participants.handle(e);
      catchUp.joined(e);
    },
    'voxgate.participant.updated': (e) => app.participants.handle(e),
    'voxgate.participant.left': (e) => app.participants.handle(e) && app.removedFromSession(),
    error: (e) => {
      const error = e.error ?? {};
      app.errors.add(error.message ?? 'The server reported an error.', error.code);
    },
  };

  return {
    handle(event) {
      if (event.type === 'error') debug.errors.push({ message: event.error?.message, code: event.error?.code });
      table[event.type]?.(event);
    },
    userTurnEnded,
    /** Agent audio reached the page: the first of a spoken turn's reply closes voice-to-voice. */
    audioHeard() {
      speak();
      if (state.speechStoppedAt != null && state.responseId) {
        app.metrics.voiceToVoice(state.responseId, performance.now() - state.speechStoppedAt);
        state.speechStoppedAt = null;
      }
    },
    reset() {
      Object.assign(state, { responseId: null, responding: false, userTurn: 0, speechStoppedAt: null, said: false });
      state.runTasks.clear();
      catchUp.cancel();
    },
    get responseId() {
      return state.responseId;
    },
    get responding() {
      return state.responding;
    },
  };
}
