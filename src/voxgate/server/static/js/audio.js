// The page's audio: an AudioContext with worklets for capture, playback and level metering.
import { describeMediaError } from './util.js';

export const WIRE_RATE = 24000; // PCM16 LE mono, both directions on the WebSocket
const CAPTURE_CHUNK_MS = 40;
const PLAYBACK_PREBUFFER_MS = 40;
const WORKLET_URL = '/static/audio-worklet.js';
const MIC_CONSTRAINTS = { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } };


/** Playback through the 'voxgate-player' worklet: a queue on the audio thread, flushable at once. */
class WorkletPlayer {
  constructor(ctx, onState) {
    this.node = new AudioWorkletNode(ctx, 'voxgate-player', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { prebufferMs: PLAYBACK_PREBUFFER_MS },
    });
    this.node.port.onmessage = (e) => {
      if (e.data?.type === 'state') onState(e.data.playing);
    };
    this.node.connect(ctx.destination);
  }

  push(buffer) {
    this.node.port.postMessage({ type: 'push', pcm: buffer }, [buffer]);
  }

  flush() {
    this.node.port.postMessage({ type: 'flush' });
  }

  close() {
    this.node.port.onmessage = null;
    this.node.disconnect();
  }
}

/**
 * Fallback when AudioWorklet is unavailable (it needs a secure context: https or localhost):
 * AudioBufferSourceNodes scheduled back-to-back on the context clock.
 */
class BufferPlayer {
  #sources = new Set();
  #nextTime = 0;

  constructor(ctx, onState) {
    this.ctx = ctx;
    this.onState = onState;
  }

  push(buffer) {
    const pcm = new Int16Array(buffer, 0, buffer.byteLength >> 1);
    if (pcm.length === 0) return;
    const audio = this.ctx.createBuffer(1, pcm.length, WIRE_RATE);
    const samples = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 0x8000;
    const source = this.ctx.createBufferSource();
    source.buffer = audio;
    source.connect(this.ctx.destination);
    // After an underrun, restart a little ahead of the clock so the first chunk is not clipped.
    const now = this.ctx.currentTime;
    if (this.#nextTime < now + 0.01) this.#nextTime = now + PLAYBACK_PREBUFFER_MS / 1000;
    source.start(this.#nextTime);
    this.#nextTime += audio.duration;
    source.onended = () => {
      this.#sources.delete(source);
      if (this.#sources.size === 0) this.onState(false);
    };
    this.#sources.add(source);
    if (this.#sources.size === 1) this.onState(true);
  }

  flush() {
    for (const source of this.#sources) {
      source.onended = null;
      source.stop();
    }
    this.#sources.clear();
    this.#nextTime = 0;
    this.onState(false);
  }

  close() {
    this.flush();
  }
}

/**
 * The page's audio: one AudioContext for playback and (optionally) the microphone.
 * Callbacks: onCapture(ArrayBuffer of PCM16 24 kHz), onLevel(0..1), onPlaying(bool).
 */
export class AudioEngine {
  #ctx = null;
  #player = null;
  #stream = null;
  #source = null;
  #capture = null;
  #muted = false;
  #closed = false;
  #monitor = null;

  constructor({ onCapture, onLevel, onPlaying }) {
    this.onCapture = onCapture;
    this.onLevel = onLevel;
    this.onPlaying = onPlaying;
  }

  get sampleRate() {
    return this.#ctx?.sampleRate ?? null;
  }

  get hasWorklet() {
    return Boolean(this.#ctx?.audioWorklet);
  }

  /**
   * Open the context and the player. The context is created before the first await so that it
   * is born inside the click's user activation and is allowed to play.
   */
  async start() {
    this.#ctx = AudioEngine.#createContext(true);
    await this.#setUpPlayer();
  }

  /** A 24 kHz context when the browser allows it (no resampling at all), else the device rate. */
  static #createContext(preferWireRate) {
    if (preferWireRate) {
      try {
        return new AudioContext({ sampleRate: WIRE_RATE, latencyHint: 'interactive' });
      } catch {
        // this browser only runs contexts at the device rate: the worklets resample
      }
    }
    return new AudioContext({ latencyHint: 'interactive' });
  }

  async #setUpPlayer() {
    const ctx = this.#ctx;
    // Not awaited: resume() stays pending until a user gesture if autoplay is blocked.
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    if (ctx.audioWorklet) {
      await ctx.audioWorklet.addModule(WORKLET_URL);
      if (this.#closed) return;
      this.#player = new WorkletPlayer(ctx, (playing) => this.onPlaying(playing));
    } else {
      this.#player = new BufferPlayer(ctx, (playing) => this.onPlaying(playing));
    }
  }

  /** Ask for the microphone and start capturing. Throws a readable Error on failure. */
  async startMic() {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('the microphone needs https or localhost');
    if (!this.#ctx?.audioWorklet) throw new Error('microphone capture needs AudioWorklet (https or localhost)');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(MIC_CONSTRAINTS);
    } catch (err) {
      throw new Error(describeMediaError(err));
    }
    if (this.#closed) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    this.#stream = stream;
    this.#applyMute();
    this.#source = await this.#createSource(stream);
    if (this.#closed) return;
    this.#capture = new AudioWorkletNode(this.#ctx, 'voxgate-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { chunkMs: CAPTURE_CHUNK_MS },
    });
    this.#capture.port.onmessage = (e) => this.#onChunk(e.data);
    this.#source.connect(this.#capture);
    // Connected (silently) to the destination so the graph keeps pulling the processor.
    this.#capture.connect(this.#ctx.destination);
  }

  /**
   * Firefox refuses to connect a microphone to a context whose rate differs from the device's;
   * then fall back to a device-rate context (the worklets resample) and rebuild the player.
   */
  async #createSource(stream) {
    try {
      return this.#ctx.createMediaStreamSource(stream);
    } catch (err) {
      if (this.#ctx.sampleRate !== WIRE_RATE) throw err;
    }
    this.#player?.close();
    this.#player = null;
    await this.#ctx.close();
    this.#ctx = AudioEngine.#createContext(false);
    await this.#setUpPlayer();
    return this.#ctx.createMediaStreamSource(stream);
  }

  #onChunk({ pcm, level }) {
    if (this.#muted) {
      this.onLevel(0);
      return;
    }
    this.onLevel(level);
    this.onCapture?.(pcm);
  }

  /** The live microphone track (for a WebRTC sender), if any. */
  get micTrack() {
    return this.#stream?.getAudioTracks()[0] ?? null;
  }

  /**
   * Measure a remote stream (WebRTC agent voice) with the capture worklet: onChunk(level) per
   * 40 ms. Playback itself goes through an <audio> element, where echo cancellation applies.
   */
  monitor(stream, onChunk) {
    if (!this.#ctx?.audioWorklet || this.#closed) return;
    this.#monitor?.disconnect();
    const source = this.#ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(this.#ctx, 'voxgate-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { chunkMs: CAPTURE_CHUNK_MS },
    });
    node.port.onmessage = (e) => onChunk(e.data.level);
    source.connect(node);
    node.connect(this.#ctx.destination);
    this.#monitor = { disconnect: () => (node.port.onmessage = null, node.disconnect(), source.disconnect()) };
  }

  get micActive() {
    return this.#capture !== null;
  }

  setMuted(muted) {
    this.#muted = muted;
    this.#applyMute();
  }

  // Disabling the track too means the browser really stops listening, not just the page.
  #applyMute() {
    for (const track of this.#stream?.getAudioTracks() ?? []) track.enabled = !this.#muted;
  }

  play(buffer) {
    this.#player?.push(buffer);
  }

  flush() {
    this.#player?.flush();
  }

  async stop() {
    this.#closed = true;
    this.#monitor?.disconnect();
    this.#monitor = null;
    this.#capture?.port.postMessage({ type: 'stop' });
    this.#capture?.disconnect();
    this.#source?.disconnect();
    this.#stream?.getTracks().forEach((t) => t.stop());
    this.#player?.close();
    this.#capture = this.#source = this.#stream = this.#player = null;
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx && ctx.state !== 'closed') await ctx.close().catch(() => {});
  }
}
