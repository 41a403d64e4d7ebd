// AudioWorklet processors for the voxgate page.
//
// The wire format is PCM16 little-endian mono at 24 kHz in both directions. The AudioContext
// may run at any rate (`sampleRate` is a global of the worklet scope), so both processors
// resample between the context rate and the wire rate themselves; when the context already
// runs at 24 kHz the resampling is an identity.

const WIRE_RATE = 24000;

/** Second-order low-pass section (RBJ cookbook); two of them make a 4th-order Butterworth. */
class LowPass {
  constructor(cutoffHz, rate, q) {
    const w = (2 * Math.PI * cutoffHz) / rate;
    const alpha = Math.sin(w) / (2 * q);
    const cos = Math.cos(w);
    const a0 = 1 + alpha;
    this.b0 = (1 - cos) / 2 / a0;
    this.b1 = (1 - cos) / a0;
    this.b2 = this.b0;
    this.a1 = (-2 * cos) / a0;
    this.a2 = (1 - alpha) / a0;
    this.x1 = this.x2 = this.y1 = this.y2 = 0;
  }

  process(x) {
    let y = this.b0 * x + this.b1 * this.x1 + this.b2 * this.x2 - this.a1 * this.y1 - this.a2 * this.y2;
    if (Math.abs(y) < 1e-20) y = 0; // keep silence from decaying into slow denormals
    this.x2 = this.x1;
    this.x1 = x;
    this.y2 = this.y1;
    this.y1 = y;
    return y;
  }
}

/**
 * Microphone capture: mixes to mono, low-passes (when downsampling, against aliasing),
 * resamples linearly to 24 kHz, converts to Int16 and posts `{pcm: ArrayBuffer, level}`
 * every `chunkMs` (default 40 ms). `level` is the chunk's RMS (0..1), for a meter.
 */
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { chunkMs = 40 } = options.processorOptions ?? {};
    this.step = sampleRate / WIRE_RATE; // input samples per output sample
    const cutoff = 0.4 * WIRE_RATE; // speech needs little above 9.6 kHz; leaves room for the roll-off
    this.filters =
      this.step > 1 ? [new LowPass(cutoff, sampleRate, 0.5412), new LowPass(cutoff, sampleRate, 1.3066)] : [];
    // Position of the next output sample in input samples, relative to the current block;
    // it lies in [-1, 0) when it falls between the previous block's last sample and this one's first.
    this.pos = 0;
    this.prev = 0;
    this.chunkLength = Math.round((WIRE_RATE * chunkMs) / 1000);
    this.chunk = new Int16Array(this.chunkLength);
    this.fill = 0;
    this.sumSquares = 0;
    this.mono = new Float32Array(128);
    this.running = true;
    this.port.onmessage = (e) => {
      if (e.data?.type === 'stop') this.running = false;
    };
  }

  process(inputs) {
    if (!this.running) return false;
    const channels = inputs[0];
    if (!channels || channels.length === 0 || channels[0].length === 0) return true; // not fed yet
    this.resample(this.mixdown(channels));
    return true;
  }

  /** Average the channels and run the anti-aliasing filter, into a scratch buffer. */
  mixdown(channels) {
    const n = channels[0].length;
    if (this.mono.length !== n) this.mono = new Float32Array(n);
    const mono = this.mono;
    const gain = 1 / channels.length;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < channels.length; c++) s += channels[c][i];
      s *= gain;
      for (let f = 0; f < this.filters.length; f++) s = this.filters[f].process(s);
      mono[i] = s;
    }
    return mono;
  }

  resample(x) {
    const n = x.length;
    let t = this.pos;
    // Strictly below n - 1 so that x[i + 1] always exists; the rest waits for the next block.
    while (t < n - 1) {
      const i = Math.floor(t);
      const a = i < 0 ? this.prev : x[i];
      const b = x[i + 1];
      this.emit(a + (b - a) * (t - i));
      t += this.step;
    }
    this.pos = t - n;
    this.prev = x[n - 1];
  }

  emit(sample) {
    const s = Math.max(-1, Math.min(1, sample));
    this.chunk[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    this.sumSquares += s * s;
    if (this.fill === this.chunkLength) this.post();
  }

  post() {
    const pcm = this.chunk;
    const level = Math.sqrt(this.sumSquares / pcm.length);
    this.port.postMessage({ pcm: pcm.buffer, level }, [pcm.buffer]);
    this.chunk = new Int16Array(this.chunkLength);
    this.fill = 0;
    this.sumSquares = 0;
  }
}

/**
 * Gapless playback: a FIFO of 24 kHz chunks fed by `{type: 'push', pcm: ArrayBuffer}` and
 * played back-to-back, resampled linearly to the context rate. `{type: 'flush'}` drops
 * everything queued at the next render quantum (barge-in). Posts `{type: 'state', playing}`
 * whenever playback starts or stops.
 *
 * After an underrun it waits for `prebufferMs` of audio (or that long) before playing again,
 * so network jitter gives one pause instead of a crackle of tiny gaps.
 */
class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { prebufferMs = 40 } = options.processorOptions ?? {};
    this.step = WIRE_RATE / sampleRate; // wire samples per output sample
    this.prebufferSamples = Math.round((WIRE_RATE * prebufferMs) / 1000);
    this.prebufferSeconds = prebufferMs / 1000;
    this.queue = []; // Float32Array chunks at WIRE_RATE
    this.head = 0; // read offset into queue[0]
    this.queued = 0; // samples waiting in the queue
    this.waitingSince = null; // context time the queue became non-empty while idle
    this.playing = false;
    this.resetCursor();
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(msg) {
    if (msg?.type === 'push') this.push(msg.pcm);
    else if (msg?.type === 'flush') this.flush();
  }

  push(buffer) {
    // Browsers are little-endian in practice, so Int16Array reads the wire format directly.
    const pcm = new Int16Array(buffer, 0, buffer.byteLength >> 1);
    if (pcm.length === 0) return;
    const samples = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 0x8000;
    this.queue.push(samples);
    this.queued += samples.length;
    if (!this.playing && this.waitingSince === null) this.waitingSince = currentTime;
  }

  flush() {
    this.queue = [];
    this.head = 0;
    this.queued = 0;
    this.waitingSince = null;
    this.resetCursor();
    this.setPlaying(false);
  }

  /** Interpolation state: output lies between `prev` and `cur`, at `frac` (>= 1: needs input). */
  resetCursor() {
    this.prev = 0;
    this.cur = 0;
    this.frac = 1;
  }

  take() {
    const chunk = this.queue[0];
    const sample = chunk[this.head++];
    if (this.head === chunk.length) {
      this.queue.shift();
      this.head = 0;
    }
    this.queued--;
    return sample;
  }

  setPlaying(playing) {
    if (playing === this.playing) return;
    this.playing = playing;
    this.port.postMessage({ type: 'state', playing });
  }

  shouldStart() {
    if (this.queued === 0) return false;
    return this.queued >= this.prebufferSamples || currentTime - this.waitingSince >= this.prebufferSeconds;
  }

  process(inputs, outputs) {
    const channels = outputs[0];
    const out = channels[0];
    if (!this.playing && this.shouldStart()) {
      this.waitingSince = null;
      this.setPlaying(true);
    }
    if (this.playing) this.render(out);
    for (let c = 1; c < channels.length; c++) channels[c].set(out);
    return true;
  }

  /** Fill `out` from the queue; on underrun, leave the rest silent and go idle. */
  render(out) {
    for (let i = 0; i < out.length; i++) {
      while (this.frac >= 1) {
        if (this.queued === 0) {
          out.fill(0, i);
          this.resetCursor();
          this.setPlaying(false);
          return;
        }
        this.prev = this.cur;
        this.cur = this.take();
        this.frac -= 1;
      }
      out[i] = this.prev + (this.cur - this.prev) * this.frac;
      this.frac += this.step;
    }
  }
}

registerProcessor('voxgate-capture', CaptureProcessor);
registerProcessor('voxgate-player', PlayerProcessor);
