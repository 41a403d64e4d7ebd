// Who is in the conversation: each participant's role, transport and voice level, with Mute
// and Remove (the session's participants API, docs/protocol.md). Kept from the server's
// voxgate.participant.joined | left | updated events; GA-only connections never see them.
import { authHeaders } from '../auth.js';
import { el } from '../util.js';

const TRANSPORTS = { websocket: 'WebSocket', webrtc: 'WebRTC', realtime: 'Realtime API', internal: 'server' };

/** POST / DELETE on /api/sessions/{session}/participants/{id}[/action]; an error message or null. */
async function control(sessionId, participantId, method, action, body) {
  const path = `/api/sessions/${encodeURIComponent(sessionId)}/participants/${encodeURIComponent(participantId)}`;
  const response = await fetch(action ? `${path}/${action}` : path, {
    method,
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.ok) return null;
  const answer = await response.json().catch(() => ({}));
  const detail = answer.error?.message ?? answer.detail;
  return typeof detail === 'string' ? detail : `the server said HTTP ${response.status}`;
}

/** "You", or the role and a short id: "listener 3f9a2c". */
function label(participant, me) {
  if (participant.id === me) return 'You';
  return `${participant.role === 'listener' ? 'Listener' : 'Speaker'} ${String(participant.id).slice(-6)}`;
}

export class ParticipantsView {
  #people = new Map(); // participant id -> {data, row}
  me = null; // this page's participant id (the joined event that says `you`)

  /** `session()` gives the session id; `onError(message)` shows a failed control. */
  constructor(list, { count, empty, session, onError }) {
    this.list = list;
    this.count = count;
    this.empty = empty;
    this.session = session;
    this.onError = onError;
    this.#render();
  }

  clear() {
    this.#people.clear();
    this.me = null;
    this.list.replaceChildren();
    this.#render();
  }

  /** A voxgate.participant.* event; returns true when it says this page was removed. */
  handle(event) {
    const who = event.participant ?? {};
    if (event.type === 'voxgate.participant.joined') {
      if (event.you) this.me = who.id;
      this.#replace(event.participants ?? [who]);
    } else if (event.type === 'voxgate.participant.left') {
      if (who.id === this.me && event.reason === 'removed') return true;
      this.#replace(event.participants ?? [...this.#people.values()].map((p) => p.data).filter((p) => p.id !== who.id));
    } else if (event.type === 'voxgate.participant.updated') {
      const known = this.#people.get(who.id);
      if (known) this.#fill(known.row, { ...known.data, ...who });
    }
    return false;
  }

  #replace(participants) {
    const ids = new Set(participants.map((p) => p.id));
    for (const [id, { row }] of this.#people) {
      if (!ids.has(id)) {
        row.remove();
        this.#people.delete(id);
      }
    }
    for (const participant of participants) {
      const known = this.#people.get(participant.id);
      const row = known?.row ?? this.#row(participant.id);
      this.#fill(row, participant);
      this.list.append(row); // in the order they joined
    }
    this.#render();
  }

  #row(id) {
    const row = el('li', 'participant');
    row.dataset.id = id;
    const head = el('div', 'participant-head');
    const name = el('strong', 'participant-name');
    const meter = el('span', 'participant-level');
    meter.setAttribute('aria-hidden', 'true');
    meter.append(el('span'));
    head.append(meter, name, el('span', 'participant-detail'), el('span', 'participant-state'));
    const controls = el('div', 'participant-controls');
    const mute = el('button', 'participant-mute', 'Mute');
    mute.type = 'button';
    mute.addEventListener('click', () => this.#mute(id));
    const remove = el('button', 'participant-remove', 'Remove');
    remove.type = 'button';
    remove.addEventListener('click', () => this.#remove(id));
    controls.append(mute, remove);
    row.append(head, controls);
    this.#people.set(id, { data: { id }, row });
    return row;
  }

  #fill(row, participant) {
    const entry = this.#people.get(participant.id);
    if (entry) entry.data = participant;
    const name = label(participant, this.me);
    row.dataset.role = participant.role;
    row.dataset.muted = String(Boolean(participant.muted));
    row.dataset.speaking = String(Boolean(participant.speaking));
    row.dataset.you = String(participant.id === this.me);
    row.style.setProperty('--level', Math.min(1, (participant.level ?? 0) * 4).toFixed(3));
    row.querySelector('.participant-name').textContent = name;
    row.querySelector('.participant-detail').textContent = [participant.role, TRANSPORTS[participant.transport] ?? participant.transport, participant.sideband ? 'sideband' : ''].filter(Boolean).join(' · ');
    const state = participant.muted ? 'muted' : participant.speaking ? 'speaking' : '';
    row.querySelector('.participant-state').textContent = state;
    const mute = row.querySelector('.participant-mute');
    mute.textContent = participant.muted ? 'Unmute' : 'Mute';
    mute.setAttribute('aria-pressed', String(Boolean(participant.muted)));
    mute.setAttribute('aria-label', `${participant.muted ? 'Unmute' : 'Mute'} ${name}`);
    mute.hidden = participant.role === 'listener'; // a listener is never heard anyway
    const remove = row.querySelector('.participant-remove');
    remove.setAttribute('aria-label', `Remove ${name} from the conversation`);
    remove.hidden = participant.id === this.me; // Disconnect is how to leave
  }

  async #mute(id) {
    const data = this.#people.get(id)?.data;
    if (!data) return;
    const error = await control(this.session(), id, 'POST', 'mute', { muted: !data.muted }).catch(() => 'the server could not be reached');
    if (error) this.onError(`Could not ${data.muted ? 'unmute' : 'mute'} ${label(data, this.me)}: ${error}.`);
  }

  async #remove(id) {
    const data = this.#people.get(id)?.data;
    if (!data) return;
    const error = await control(this.session(), id, 'DELETE').catch(() => 'the server could not be reached');
    if (error) this.onError(`Could not remove ${label(data, this.me)}: ${error}.`);
  }

  #render() {
    this.count.textContent = String(this.#people.size);
    this.empty.hidden = this.#people.size > 0;
  }
}
