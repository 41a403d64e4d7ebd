// Tools & handoffs: each function call with its arguments, output, status and time.
import { el, ms } from '../util.js';

/** JSON on one line when short, indented when not; other text as it is. */
function pretty(text) {
  let value = text;
  if (typeof text === 'string') {
    try {
      value = JSON.parse(text);
    } catch {
      return text;
    }
  }
  const line = JSON.stringify(value);
  return line.length <= 64 ? line : JSON.stringify(value, null, 2);
}

export class ToolsView {
  #calls = new Map(); // call_id -> card

  constructor(list, { count, agent, empty }) {
    this.list = list;
    this.count = count;
    this.agent = agent;
    this.empty = empty;
  }

  clear() {
    this.#calls.clear();
    this.list.replaceChildren();
    this.agent.textContent = '';
    this.#render();
  }

  /** voxgate.tool.started, or a GA function call seen first (a client-side tool). */
  started({ call_id: callId, name, arguments: args, agent }) {
    const card = this.#card(callId, name);
    card.dataset.status = 'running';
    card.querySelector('.tool-status').textContent = 'running';
    if (agent) card.querySelector('.tool-agent').textContent = agent;
    this.#setArgs(card, args);
  }

  functionCall({ call_id: callId, name, arguments: args }) {
    if (this.#calls.has(callId)) return;
    const card = this.#card(callId, name);
    card.dataset.status = 'called';
    card.querySelector('.tool-status').textContent = 'called';
    this.#setArgs(card, args);
  }

  completed({ call_id: callId, name, arguments: args, output, status, duration_ms: duration, agent }) {
    const card = this.#card(callId, name);
    card.dataset.status = status ?? 'ok';
    card.querySelector('.tool-status').textContent = status ?? 'ok';
    card.querySelector('.tool-time').textContent = ms(duration);
    if (agent) card.querySelector('.tool-agent').textContent = agent;
    this.#setArgs(card, args);
    let out = card.querySelector('.tool-output');
    if (!out) {
      card.append(el('span', 'tool-label', 'output'));
      out = card.appendChild(el('pre', 'tool-output'));
    }
    out.textContent = pretty(output ?? '');
  }

  handoff(event) {
    const from = event.from ?? '?';
    const to = event.to ?? '?';
    const row = el('li', 'handoff');
    row.dataset.testid = 'handoff';
    row.append(el('span', 'handoff-icon', '⇄'), el('span', null, 'handoff '), el('strong', null, from), el('span', null, ' → '), el('strong', null, to));
    this.list.prepend(row);
    this.setAgent(to);
    this.#render();
  }

  setAgent(name) {
    this.agent.textContent = name ? `agent: ${name}` : '';
  }

  #card(callId, name) {
    let card = this.#calls.get(callId);
    if (card) return card;
    card = el('li', 'tool');
    card.dataset.callId = callId;
    const head = el('div', 'tool-head');
    head.append(el('code', 'tool-name', `${name ?? 'function'}()`), el('span', 'tool-agent'), el('span', 'tool-time'), el('span', 'tool-status'));
    card.append(head, el('span', 'tool-label', 'arguments'), el('pre', 'tool-args'));
    this.#calls.set(callId, card);
    this.list.prepend(card);
    this.#render();
    return card;
  }

  #setArgs(card, args) {
    if (args != null) card.querySelector('.tool-args').textContent = pretty(args || '{}');
  }

  #render() {
    this.count.textContent = String(this.#calls.size);
    this.empty.hidden = this.list.childElementCount > 0;
  }
}
