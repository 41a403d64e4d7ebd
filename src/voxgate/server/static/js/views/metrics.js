// Per-turn latency (STT, LLM, TTS, voice-to-voice), tokens and cost, and a chart of recent turns.
import { el, ms } from '../util.js';

const CHART_TURNS = 12;
const SVG = 'http://www.w3.org/2000/svg';
const STAGES = [
  { key: 'stt', label: 'STT', color: 'var(--stt)' },
  { key: 'llm', label: 'LLM', color: 'var(--llm)' },
  { key: 'tts', label: 'TTS', color: 'var(--tts)' },
];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * A turn, keyed by response_id, filled from `voxgate.metrics` (server stages), `response.done`
 * (usage) and the page's own clock (voice-to-voice: end of the user's speech → agent audio).
 */
export class MetricsView {
  #turns = new Map();

  constructor(root) {
    this.root = root;
    this.tiles = root.querySelector('.metric-tiles');
    this.chart = root.querySelector('[data-testid="metrics-chart"]');
    this.usage = root.querySelector('.metric-usage');
    this.empty = root.querySelector('.metrics-empty');
    this.clear();
  }

  clear() {
    this.#turns.clear();
    this.#render();
  }

  #turn(responseId) {
    if (!this.#turns.has(responseId)) this.#turns.set(responseId, { id: responseId, n: this.#turns.size + 1 });
    return this.#turns.get(responseId);
  }

  metrics(responseId, m) {
    const turn = this.#turn(responseId);
    turn.stt = m.stt_ms ?? m.stt_wait_ms;
    turn.sttWait = m.stt_wait_ms;
    turn.llm = m.llm_first_token_ms;
    turn.tts = m.tts_first_audio_ms;
    turn.firstAudio = m.first_audio_ms;
    if (typeof m.v2v_ms === 'number') turn.v2vServer = m.v2v_ms;
    if (typeof m.cost_usd === 'number') turn.cost = m.cost_usd;
    turn.raw = m;
    this.#render();
  }

  usageOf(response) {
    const usage = response.usage;
    if (!usage || !response.id) return;
    const turn = this.#turn(response.id);
    turn.inputTokens = usage.input_tokens;
    turn.outputTokens = usage.output_tokens;
    const cost = response.metadata?.cost_usd ?? usage.cost_usd;
    if (typeof cost === 'number') turn.cost = cost;
    this.#render();
  }

  voiceToVoice(responseId, value) {
    const turn = this.#turn(responseId);
    if (turn.v2v == null) turn.v2v = value;
    this.#render();
  }

  #render() {
    const turns = [...this.#turns.values()].filter((t) => t.raw || t.v2v != null);
    const last = turns.at(-1);
    this.empty.hidden = Boolean(last);
    this.root.dataset.turns = String(turns.length);
    const v2v = last ? last.v2v ?? last.v2vServer : undefined;
    const tiles = [
      ['stt', 'STT', last?.stt, last?.sttWait != null ? `wait ${ms(last.sttWait)}` : ''],
      ['llm', 'LLM first token', last?.llm, ''],
      ['tts', 'TTS first audio', last?.tts, ''],
      ['v2v', 'Voice-to-voice', v2v, last?.v2v != null ? 'measured here' : ''],
    ].map(([key, label, value, note]) => {
      const tile = el('div', `metric metric-${key}`);
      tile.dataset.metric = key;
      tile.append(el('span', 'metric-label', label), el('strong', 'metric-value', ms(value)), el('span', 'metric-note', note));
      return tile;
    });
    this.tiles.replaceChildren(...tiles);

    const totals = turns.reduce(
      (acc, t) => ({ input: acc.input + (t.inputTokens ?? 0), output: acc.output + (t.outputTokens ?? 0), cost: acc.cost + (t.cost ?? 0), priced: acc.priced || t.cost != null }),
      { input: 0, output: 0, cost: 0, priced: false },
    );
    const parts = [
      last?.inputTokens || last?.outputTokens ? `tokens: last turn ${last.inputTokens} in, ${last.outputTokens} out` : null,
      totals.input || totals.output ? `session ${totals.input} in, ${totals.output} out` : null,
      totals.priced ? `cost $${totals.cost.toFixed(4)}` : null,
    ].filter(Boolean);
    this.usage.textContent = parts.join(' · ');
    this.#chart(turns.slice(-CHART_TURNS));
  }

  /** Stacked bars (STT → LLM → TTS) per turn, with a dot for the voice-to-voice time. */
  #chart(turns) {
    const width = 320;
    const height = 120;
    const pad = { left: 34, right: 6, top: 8, bottom: 18 };
    const values = turns.flatMap((t) => [(t.stt ?? 0) + (t.llm ?? 0) + (t.tts ?? 0), t.v2v ?? t.v2vServer ?? 0]);
    const max = Math.max(500, ...values) * 1.1;
    const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Latency of recent turns' });
    for (const tick of [0, max / 2, max]) {
      root.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: 'grid' }));
      const label = svg('text', { x: pad.left - 4, y: y(tick) + 3, 'text-anchor': 'end', class: 'axis' });
      label.textContent = tick >= 1000 ? `${(tick / 1000).toFixed(1)}s` : `${Math.round(tick)}`;
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
        const title = svg('title');
        title.textContent = `turn ${t.n} ${stage.label} ${Math.round(v)} ms`;
        bar.append(title);
        root.append(bar);
        base += v;
      }
      const v2v = t.v2v ?? t.v2vServer;
      if (typeof v2v === 'number') root.append(svg('circle', { cx: x + slot * 0.3, cy: y(v2v), r: 3, class: 'v2v-dot' }));
      const label = svg('text', { x: x + slot * 0.3, y: height - 5, 'text-anchor': 'middle', class: 'axis' });
      label.textContent = String(t.n);
      root.append(label);
    });
    this.chart.replaceChildren(root);
  }
}
