// Background runs delegated by the agent: their task, status, messages, result and controls.
import { authHeaders } from '../auth.js';
import { clockTime, el } from '../util.js';

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const CONTROLS = [
  { action: 'pause', label: 'Pause', when: ['running'] },
  { action: 'resume', label: 'Resume', when: ['paused'] },
  { action: 'cancel', label: 'Cancel', when: ['running', 'paused'] },
];

/** A value as readable text: strings as they are, objects as "key: value" lines. */
function readable(value) {
  if (value == null) return '';
  if (typeof value === 'string') {
    try {
      const parsed = JSON.parse(value);
      if (parsed && typeof parsed === 'object') return readable(parsed);
    } catch {
      return value;
    }
    return value;
  }
  if (typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.map(readable).join('\n');
  return Object.entries(value)
    .filter(([, v]) => v != null && v !== '')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join('\n');
}

/** The runs API's controls (docs/agents.md): POST /api/runs/{id}/pause | resume | cancel. */
async function control(runId, action) {
  const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/${action}`, {
    method: 'POST',
    headers: authHeaders(),
  });
  if (response.ok) return null;
  const body = await response.json().catch(() => ({}));
  const detail = body.detail ?? body.error?.message;
  return typeof detail === 'string' ? detail : `the server said HTTP ${response.status}`;
}

export class RunsView {
  #runs = new Map(); // run_id -> card

  constructor(list, { count, empty }) {
    this.list = list;
    this.count = count;
    this.empty = empty;
  }

  clear() {
    this.#runs.clear();
    this.list.replaceChildren();
    this.#render();
  }

  handle(event) {
    const card = this.#card(event.run_id, event.agent);
    switch (event.type) {
      case 'voxgate.run.started':
        if (event.task) card.querySelector('.run-task').textContent = event.task;
        this.#status(card, 'running');
        break;
      case 'voxgate.run.status':
        this.#status(card, event.status ?? 'running', event.error);
        break;
      case 'voxgate.run.event':
        this.#event(card, event.event ?? {});
        break;
      default:
        this.#message(card, event.type.replace('voxgate.run.', ''), '', readable(event));
    }
  }

  #card(runId, agent) {
    let card = this.#runs.get(runId);
    if (card) return card;
    card = el('li', 'run');
    card.dataset.runId = runId;
    const head = el('div', 'run-head');
    head.append(el('strong', 'run-agent', agent ?? 'run'), el('code', 'run-id', runId), el('span', 'run-status', 'running'));
    const controls = el('div', 'run-controls');
    for (const { action, label } of CONTROLS) {
      const button = el('button', `run-${action}`, label);
      button.type = 'button';
      button.dataset.action = action;
      button.setAttribute('aria-label', `${label} the ${agent ?? ''} run`.replace('  ', ' '));
      button.addEventListener('click', () => this.#control(card, action));
      controls.append(button);
    }
    card.append(head, el('p', 'run-task'), controls, el('ol', 'run-messages'));
    this.#runs.set(runId, card);
    this.list.prepend(card);
    this.#render();
    return card;
  }

  async #control(card, action) {
    for (const button of card.querySelectorAll('.run-controls button')) button.disabled = true;
    const error = await control(card.dataset.runId, action).catch(() => 'the server could not be reached');
    if (error) this.#message(card, 'error', '', `Could not ${action} the run: ${error}.`);
    this.#renderControls(card);
  }

  #status(card, status, error) {
    card.dataset.status = status;
    card.querySelector('.run-status').textContent = status;
    if (error) this.#message(card, 'error', '', readable(error));
    this.#renderControls(card);
  }

  #renderControls(card) {
    const status = card.dataset.status ?? 'running';
    for (const button of card.querySelectorAll('.run-controls button')) {
      const spec = CONTROLS.find((c) => c.action === button.dataset.action);
      button.hidden = !spec.when.includes(status);
      button.disabled = false;
    }
    card.querySelector('.run-controls').hidden = FINISHED.has(status);
  }

  #event(card, runEvent) {
    const data = runEvent.data ?? {};
    switch (runEvent.type) {
      case 'textmessage':
        this.#message(card, 'textmessage', data.source, data.content);
        break;
      case 'toolcallrequest':
        this.#message(card, 'tool', data.source, `calls ${(data.calls ?? []).map((x) => x.name).join(', ')}`);
        break;
      case 'toolcallexecution':
        for (const r of data.results ?? []) this.#message(card, r.is_error ? 'error' : 'tool', r.name, readable(r.content));
        break;
      case 'status':
        if (data.status) this.#status(card, data.status);
        break;
      case 'done': {
        if (data.status) this.#status(card, data.status, data.error);
        const result = data.final ?? data.last_message ?? data.result;
        if (result != null && result !== '') this.#message(card, 'result', 'result', readable(result));
        break;
      }
      default:
        this.#message(card, runEvent.type ?? 'event', data.source, readable(data.content ?? data.message ?? data.text ?? data));
    }
  }

  #message(card, kind, source, text) {
    const row = el('li', `run-message ${kind}`.trim());
    row.append(el('time', null, clockTime()), el('span', 'run-source', source || kind), el('span', 'run-text', String(text ?? '')));
    card.querySelector('.run-messages').append(row);
  }

  #render() {
    this.count.textContent = String(this.#runs.size);
    this.empty.hidden = this.#runs.size > 0;
  }
}
