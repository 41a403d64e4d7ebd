// The page's key, when the server has VOXGATE_API_KEYS: asked for once, kept for this tab
// (sessionStorage), sent as `Authorization: Bearer` on HTTP. A WebSocket cannot carry that
// header, so for one the page mints an ephemeral key for its session (a minute to connect) and
// offers it as the `openai-insecure-api-key.<key>` subprotocol: the long-lived key never goes in
// a URL or a WebSocket handshake.

const STORE = 'voxgate.apiKey';

export const auth = {
  required: false, // the server answered 401 without a key
  key: sessionStorage.getItem(STORE) || null,
};

export function setKey(key) {
  auth.key = key || null;
  if (auth.key) sessionStorage.setItem(STORE, auth.key);
  else sessionStorage.removeItem(STORE);
}

const ASK = 'This server needs an API key: enter it and press Connect.';

/** Follow the server's answer to /api/client-config; false when it wants a (another) key. */
export function keyAccepted(config, ui, errors) {
  auth.required = Boolean(config.auth?.required);
  ui.apiKeyField.hidden = !auth.required;
  if (!auth.required) setKey(null); // an open server: a key from before would only get in the way
  if (!config.auth?.refused) return true;
  errors.add(auth.key ? 'The server refused this API key: enter another and press Connect.' : ASK, 'auth_required');
  setKey(null);
  return false;
}

/** Keep the key typed into `input` for this tab; false (and a message) when none was typed. */
export function takeTypedKey(input, errors) {
  const key = input.value.trim();
  if (!key) {
    errors.add(ASK, 'auth_required');
    input.focus();
    return false;
  }
  setKey(key);
  errors.clear();
  return true;
}

export function authHeaders() {
  return auth.key ? { Authorization: `Bearer ${auth.key}` } : {};
}

export class AuthError extends Error {}

/** The WebSocket subprotocols for `sessionId`: none without a key, else an ephemeral key's. */
export async function socketProtocols(sessionId) {
  if (!auth.key) return [];
  const response = await fetch('/v1/realtime/client_secrets', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify({
      session: { type: 'realtime' },
      session_id: sessionId,
      expires_after: { anchor: 'created_at', seconds: 60 },
    }),
  });
  if (!response.ok) {
    const detail = await response.json().then((j) => j.error?.message, () => null);
    throw new AuthError(detail || `the server refused a session key (HTTP ${response.status})`);
  }
  const { value } = await response.json();
  return ['realtime', `openai-insecure-api-key.${value}`];
}
