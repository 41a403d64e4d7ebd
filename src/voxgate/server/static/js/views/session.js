// The session id in the header and a control that copies a link to join it.
import { el } from '../util.js';

/**
 * The id is shown as text (one line, shortened on a phone) and the link is copied, not followed:
 * following a same-tab link would reload the page and drop the call.
 */
export class SessionView {
  #timer = null;

  constructor(label, button) {
    this.label = label;
    this.button = button;
    this.button.addEventListener('click', () => this.copy());
    this.show(null);
  }

  show(sessionId) {
    this.sessionId = sessionId;
    this.label.textContent = sessionId ?? '';
    this.label.title = sessionId ? `session ${sessionId}` : '';
    this.button.hidden = !sessionId;
    this.button.title = sessionId ? `Copy a link that joins session ${sessionId} from another tab or device` : '';
  }

  get link() {
    const url = new URL(location.href);
    url.search = '';
    url.searchParams.set('session', this.sessionId);
    return url.href;
  }

  async copy() {
    if (!this.sessionId) return;
    let copied = false;
    try {
      await navigator.clipboard.writeText(this.link);
      copied = true;
    } catch {
      copied = this.#copyByHand(this.link);
    }
    this.button.dataset.copied = String(copied);
    this.button.textContent = copied ? 'Copied' : 'Copy failed';
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.button.textContent = 'Copy link';
      delete this.button.dataset.copied;
    }, 2000);
  }

  /** Where the Clipboard API is missing (plain http on another host): the old way. */
  #copyByHand(text) {
    const area = el('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}
