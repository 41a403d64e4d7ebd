// Pictures in a turn (docs/protocol.md, "Images"): "Attach image" takes a file, "Camera" a
// snapshot of the camera. The picture waits beside the composer; Send sends it as the GA
// `conversation.item.create` of a user message with an `input_image` part (and the typed text,
// if any), then `response.create`. A picture too large for the server or for one WebRTC
// data-channel message is scaled down (and made a JPEG) in a canvas first, so a phone's photo fits.

const TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];
const CHANNEL_BYTES = 180 * 1024; // as base64, with the text, under a data channel's 256 KiB
const MAX_SIDE = 2048; // what the hosted models scale a picture down to anyway
const MIN_SIDE = 64;

function byTestId(id) {
  return document.querySelector(`[data-testid="${id}"]`);
}

function dataUrlOf(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function jpegOf(canvas, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
}

/** `source` (an ImageBitmap or a playing <video>) as a JPEG of at most `budget` bytes. */
async function shrunk(source, width, height, budget) {
  let scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  let quality = 0.85;
  const canvas = document.createElement('canvas');
  for (;;) {
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    canvas.getContext('2d').drawImage(source, 0, 0, canvas.width, canvas.height);
    const blob = await jpegOf(canvas, quality);
    if (blob && blob.size <= budget) return blob;
    if (quality > 0.6) quality -= 0.15;
    else scale *= 0.75;
    if (Math.max(width, height) * scale < MIN_SIDE) throw new Error('it stays too large even scaled down');
  }
}

function sizeText(bytes) {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${Math.round(bytes / 1024)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

/** The composer's picture: attached or snapped, shown, sent with the next message. */
export class ImageComposer {
  #picture = null; // { url, type, bytes }
  #stream = null; // the camera, while its preview shows
  budget = CHANNEL_BYTES;

  constructor(app) {
    this.app = app;
    this.attach = byTestId('attach-image');
    this.input = byTestId('image-input');
    this.camera = byTestId('camera');
    this.box = byTestId('attachment');
    this.preview = byTestId('attachment-preview');
    this.info = byTestId('attachment-info');
    this.panel = byTestId('camera-panel');
    this.video = byTestId('camera-video');
    this.hint = byTestId('composer-hint');
    this.attach.addEventListener('click', () => this.input.click());
    this.input.addEventListener('change', () => {
      const [file] = this.input.files;
      this.input.value = '';
      if (file) this.take(file, file.name || 'picture');
    });
    byTestId('attachment-remove').addEventListener('click', () => this.clear());
    this.camera.addEventListener('click', () => this.openCamera());
    byTestId('camera-shoot').addEventListener('click', () => this.snap());
    byTestId('camera-cancel').addEventListener('click', () => this.closeCamera());
    this.#findCamera();
  }

  /** The server's limit (`/api/client-config`'s `images.max_bytes`). */
  configure(config) {
    this.budget = Math.min(CHANNEL_BYTES, config?.max_bytes ?? CHANNEL_BYTES);
  }

  get attached() {
    return this.#picture !== null;
  }

  /** A file or a snapshot: as it is if it fits, else scaled down to a JPEG that does. */
  async take(blob, name) {
    this.hint.textContent = '';
    try {
      const bitmap = await createImageBitmap(blob).catch(() => {
        throw new Error('it is not an image the browser can read');
      });
      const fits = TYPES.includes(blob.type) && blob.size <= this.budget;
      const fitted = fits ? blob : await shrunk(bitmap, bitmap.width, bitmap.height, this.budget);
      bitmap.close();
      this.#show({ url: await dataUrlOf(fitted), type: fitted.type, bytes: fitted.size }, name);
    } catch (err) {
      this.hint.textContent = `That picture cannot be sent: ${err?.message}.`;
    }
  }

  #show(picture, name) {
    this.#picture = picture;
    this.preview.src = picture.url;
    this.preview.alt = `The picture to send: ${name}`;
    this.info.textContent = `${name} · ${sizeText(picture.bytes)}`;
    this.box.hidden = false;
  }

  clear() {
    this.#picture = null;
    this.preview.removeAttribute('src');
    this.box.hidden = true;
  }

  /** Send the picture with `text` (may be empty); false if it could not go. */
  send(text) {
    const app = this.app;
    if (!app.transport?.isOpen) {
      this.hint.textContent = 'Not connected: press Connect first, then send the picture.';
      return false;
    }
    const content = text ? [{ type: 'input_text', text }] : [];
    content.push({ type: 'input_image', image_url: this.#picture.url, detail: 'auto' });
    const create = { type: 'conversation.item.create', item: { type: 'message', role: 'user', content } };
    if (JSON.stringify(create).length > (app.transport.maxMessageBytes ?? Infinity)) {
      this.hint.textContent = 'The picture and the text are too long to send together: shorten the text.';
      return false;
    }
    if (!app.send(create)) return false;
    app.send({ type: 'response.create' });
    app.conversation.userTyped(text, [this.#picture.url]);
    app.handlers.userTurnEnded();
    this.clear();
    return true;
  }

  /* ----- the camera */

  async #findCamera() {
    const devices = await navigator.mediaDevices?.enumerateDevices?.().catch(() => []) ?? [];
    if (!devices.some((d) => d.kind === 'videoinput')) this.#noCamera('No camera');
  }

  #noCamera(label) {
    this.camera.disabled = true;
    this.camera.textContent = label;
    this.camera.title = 'This device has no camera the page may use';
  }

  async openCamera() {
    this.hint.textContent = '';
    try {
      this.#stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 } }, audio: false });
    } catch (err) {
      this.hint.textContent = `Camera unavailable: ${err?.message || err?.name || 'refused'}.`;
      if (err?.name === 'NotFoundError') this.#noCamera('No camera');
      return;
    }
    this.video.srcObject = this.#stream;
    this.panel.hidden = false;
    await this.video.play().catch(() => {});
  }

  async snap() {
    const { videoWidth: width, videoHeight: height } = this.video;
    if (!width || !height) return;
    try {
      const blob = await shrunk(this.video, width, height, this.budget);
      this.#show({ url: await dataUrlOf(blob), type: blob.type, bytes: blob.size }, 'camera');
    } catch (err) {
      this.hint.textContent = `The picture could not be taken: ${err?.message}.`;
    }
    this.closeCamera();
  }

  closeCamera() {
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    this.#stream = null;
    this.video.srcObject = null;
    this.panel.hidden = true;
  }
}
