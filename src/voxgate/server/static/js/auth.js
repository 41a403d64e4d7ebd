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
