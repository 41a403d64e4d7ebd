// Per-turn latency (STT, LLM, TTS, voice-to-voice), tokens and cost: tiles, a chart and a table.
import { el, ms } from '../util.js';

const CHART_TURNS = 12;
const TABLE_TURNS = 20;
const SVG = 'http://www.w3.org/2000/svg';
const READOUT = { v2v: 'voice-to-voice', llm: 'LLM first token' }; // the compact readout: the first measured
const STAGES = [
  { key: 'stt', label: 'STT', color: 'var(--stt)' },
  { key: 'llm', label: 'LLM', color: 'var(--llm)' },
  { key: 'tts', label: 'TTS', color: 'var(--tts)' },
];
const TILES = [
  { key: 'stt', label: 'STT', title: 'Speech-to-text: end of your speech → its transcript' },
  { key: 'llm', label: 'LLM first token', title: 'The language model: prompt → its first token' },
  { key: 'tts', label: 'TTS first audio', title: 'Text-to-speech: first text → its first audio' },
  { key: 'v2v', label: 'Voice-to-voice', title: 'End of your speech → the agent’s first sound, as this page heard it' },
];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function titled(node, text) {
  const title = svg('title');
  title.textContent = text;
  node.append(title);
  return node;
}

/** A round axis step (1, 2 or 5 × 10^n ms) giving about three gridlines above zero. */
function niceStep(max) {
  const rough = max / 3;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough);
}

/**
 * One row per user turn (spoken or typed): a tool turn's several responses add up to one. Filled
 * from `voxgate.metrics` (server stages), `response.done` (usage) and the page's own clock
 * (voice-to-voice: end of the user's speech → agent audio). Each stage keeps the turn's first
 * value, and the tiles show the latest value each stage has, so a cancelled reply (which has
 * none) does not blank them.
 */
export class MetricsView {
  #turns = new Map(); // turn key -> turn
  #responses = new Map(); // response_id -> turn
  #session = 0;

  /** `readout`: a compact copy of the last turn's latency where the panel is out of sight. */
  constructor(root, readout = null) {
    this.root = root;
    this.readout = readout;
    readout?.addEventListener('click', () => root.scrollIntoView({ behavior: 'smooth', block: 'start' }));
    this.tiles = root.querySelector('.metric-tiles');
    this.chart = root.querySelector('[data-testid="metrics-chart"]');
    this.table = root.querySelector('[data-testid="metrics-table"] tbody');
    this.usage = root.querySelector('.metric-usage');
    this.empty = root.querySelector('.metrics-empty');
    this.clear();
  }

  clear() {
    this.#turns.clear();
    this.#responses.clear();
    this.#render();
  }

  /** The server started a new session: its turns count from 1 again (the old ones stay). */
  newSession() {
    this.#session++;
  }

  /** `responseId` answers the user's turn `userTurn` (response.created). */
  bind(responseId, userTurn) {
    if (this.#responses.has(responseId)) return;
    const key = `${this.#session}:${userTurn}`;
    if (!this.#turns.has(key)) this.#turns.set(key, { key, n: this.#turns.size + 1, responses: 0 });
    const turn = this.#turns.get(key);
    turn.responses++;
    this.#responses.set(responseId, turn);
  }

  #turn(responseId) {
    if (!this.#responses.has(responseId)) this.bind(responseId, `response ${responseId}`);
    return this.#responses.get(responseId);
  }

  /** A `voxgate.metrics`: its timings (`m`, ms) and the response's cost (USD, if priced). */
  metrics(responseId, m, cost) {
    const turn = this.#turn(responseId);
    const first = (key, value) => {
      if (turn[key] == null && typeof value === 'number') turn[key] = value;
    };
    first('stt', m.stt_ms ?? m.stt_finalize_ms);
    first('sttWait', m.stt_finalize_ms);
    first('llm', m.llm_first_token_ms);
    first('tts', m.tts_first_audio_ms);
    first('v2vServer', m.voice_to_voice_ms);
    if (typeof cost === 'number') turn.cost = (turn.cost ?? 0) + cost;
    this.#render();
  }

  usageOf(response) {
    const usage = response.usage;
    if (!usage || !response.id) return;
    const turn = this.#turn(response.id);
    turn.inputTokens = (turn.inputTokens ?? 0) + (usage.input_tokens ?? 0);
    turn.outputTokens = (turn.outputTokens ?? 0) + (usage.output_tokens ?? 0);
    const cost = response.metadata?.cost_usd ?? usage.cost_usd;
    if (typeof cost === 'number') turn.cost = (turn.cost ?? 0) + cost;
    this.#render();
  }

  voiceToVoice(responseId, value) {
    const turn = this.#turn(responseId);
    if (turn.v2v == null) turn.v2v = value;
    this.#render();
  }

  static v2v(turn) {
    return turn.v2v ?? turn.v2vServer;
  }

  #render() {
    const measured = (t) => [t.stt, t.llm, t.tts, MetricsView.v2v(t)].some((v) => typeof v === 'number');
    const turns = [...this.#turns.values()].filter(measured); // a reply cancelled early has none
    const last = turns.at(-1);
    this.empty.hidden = Boolean(last);
    for (const part of this.root.querySelectorAll('.chart, .chart-legend, .metrics-details')) part.hidden = !last;
    this.root.dataset.turns = String(turns.length);
    const value = (t, key) => (key === 'v2v' ? MetricsView.v2v(t) : t[key]);
    this.tiles.replaceChildren(
      ...TILES.map(({ key, label, title }) => {
        const from = turns.findLast((t) => typeof value(t, key) === 'number');
        const tile = el('div', `metric metric-${key}`);
        tile.dataset.metric = key;
        tile.title = title;
        let note = '';
        if (from && from !== last) note = `turn ${from.n}`;
        else if (key === 'stt' && from?.sttWait != null) note = `wait ${ms(from.sttWait)}`;
        else if (key === 'v2v' && from?.v2v != null) note = 'measured here';
        tile.append(el('span', 'metric-label', label), el('strong', 'metric-value', from ? ms(value(from, key)) : '—'), el('span', 'metric-note', note));
        return tile;
      }),
    );
    this.#renderReadout(turns, value);
    const totals = turns.reduce(
      (acc, t) => ({ input: acc.input + (t.inputTokens ?? 0), output: acc.output + (t.outputTokens ?? 0), cost: acc.cost + (t.cost ?? 0), priced: acc.priced || t.cost != null }),
      { input: 0, output: 0, cost: 0, priced: false },
    );
    const parts = [
      last?.inputTokens != null ? `tokens: last turn ${last.inputTokens} in, ${last.outputTokens} out` : null,
      totals.input ? `session ${totals.input} in, ${totals.output} out` : null,
      totals.priced ? `cost $${totals.cost.toFixed(4)}` : null,
    ].filter(Boolean);
    this.usage.textContent = parts.join(' · ');
    this.#chart(turns.slice(-CHART_TURNS));
    this.#table(turns.slice(-TABLE_TURNS));
  }

  /** The voice-to-voice tile's value (the LLM tile's before any), as the tile shows it. */
  #renderReadout(turns, value) {
    if (!this.readout) return;
    const [key, from] = Object.keys(READOUT).map((k) => [k, turns.findLast((t) => typeof value(t, k) === 'number')]).find(([, t]) => t) ?? [];
    this.readout.hidden = !from;
    if (!from) return;
    this.readout.dataset.metric = key;
    this.readout.title = `Latency of turn ${from.n}: ${READOUT[key]} ${ms(value(from, key))}. Show the latency panel.`;
    this.readout.replaceChildren(el('strong', 'readout-value', ms(value(from, key))), el('span', 'readout-label', READOUT[key]));
  }

  /** The chart's numbers as text: one row per turn, newest first. */
  #table(turns) {
    if (!this.table) return;
    this.table.replaceChildren(
      ...turns.toReversed().map((t) => {
        const row = el('tr');
        row.append(el('th', null, String(t.n)));
        for (const v of [t.stt, t.llm, t.tts, MetricsView.v2v(t)]) row.append(el('td', null, ms(v)));
        row.firstChild.scope = 'row';
        return row;
      }),
    );
  }

  /** Stacked bars (STT → LLM → TTS) per turn, with a dot for the voice-to-voice time. */
  #chart(turns) {
    const width = 320;
    const height = 120;
    const pad = { left: 40, right: 6, top: 8, bottom: 18 };
    const values = turns.flatMap((t) => [(t.stt ?? 0) + (t.llm ?? 0) + (t.tts ?? 0), MetricsView.v2v(t) ?? 0]);
    const step = niceStep(Math.max(500, ...values));
    const max = step * Math.ceil(Math.max(500, ...values) / step);
    const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Latency of recent turns (the same numbers are in the table below)' });
    for (let tick = 0; tick <= max + 1e-9; tick += step) {
      root.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: 'grid' }));
      const label = svg('text', { x: pad.left - 4, y: y(tick) + 3, 'text-anchor': 'end', class: 'axis' });
      label.textContent = tick === 0 ? '0' : ms(tick);
      root.append(label);
    }
    const slot = (width - pad.left - pad.right) / CHART_TURNS;
    turns.forEach((t, i) => {
      const x = pad.left + i * slot + slot * 0.2;
      let base = 0;
      for (const stage of STAGES) {
        const v = t[stage.key];
        if (typeof v !== 'number' || v <= 0) continue;
        const bar = svg('rect', { x, width: slot * 0.6, y: y(base + v), height: y(base) - y(base + v), fill: stage.color, rx: 1.5 });
        root.append(titled(bar, `turn ${t.n} · ${stage.label} ${ms(v)}`));
        base += v;
      }
      const v2v = MetricsView.v2v(t);
      if (typeof v2v === 'number') root.append(titled(svg('circle', { cx: x + slot * 0.3, cy: y(v2v), r: 3.5, class: 'v2v-dot' }), `turn ${t.n} · voice-to-voice ${ms(v2v)}`));
      const label = svg('text', { x: x + slot * 0.3, y: height - 5, 'text-anchor': 'middle', class: 'axis' });
      label.textContent = String(t.n);
      root.append(label);
    });
    this.chart.replaceChildren(root);
  }
}
