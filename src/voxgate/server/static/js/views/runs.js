// Background runs delegated by the agent: their task, status and the messages they post.
import { clockTime, el } from '../util.js';

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
        this.#message(card, event.event ?? {});
        break;
      default:
        this.#message(card, { type: event.type.replace('voxgate.run.', ''), data: event });
    }
  }

  #card(runId, agent) {
    let card = this.#runs.get(runId);
    if (card) return card;
    card = el('li', 'run');
    card.dataset.runId = runId;
    const head = el('div', 'run-head');
    head.append(el('strong', 'run-agent', agent ?? 'run'), el('code', 'run-id', runId), el('span', 'run-status', 'running'));
    card.append(head, el('p', 'run-task'), el('ol', 'run-messages'));
    this.#runs.set(runId, card);
    this.list.prepend(card);
    this.#render();
    return card;
  }

  #status(card, status, error) {
    card.dataset.status = status;
    card.querySelector('.run-status').textContent = status;
    if (error) this.#message(card, { type: 'error', data: { content: typeof error === 'string' ? error : JSON.stringify(error) } });
  }

  #message(card, runEvent) {
    const data = runEvent.data ?? {};
    const text = data.content ?? data.message ?? data.text ?? JSON.stringify(data);
    const row = el('li', `run-message ${runEvent.type ?? ''}`.trim());
    row.append(el('time', null, clockTime()), el('span', 'run-source', data.source ?? runEvent.type ?? ''), el('span', 'run-text', String(text)));
    card.querySelector('.run-messages').append(row);
  }

  #render() {
    this.count.textContent = String(this.#runs.size);
    this.empty.hidden = this.#runs.size > 0;
  }
}
