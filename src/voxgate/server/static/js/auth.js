// Signing in, when the server requires a credential (users, VOXGATE_API_KEYS, a JWT issuer,
// VOXGATE_AUTH_REQUIRED): the key (a user's `vg_` key, a configured key, or a JWT) is typed
// once, kept for this tab (sessionStorage) and sent as `Authorization: Bearer` on HTTP; the
// account control shows who it signs in as (`GET /api/me`: the user and role) and signs out.
// A WebSocket cannot carry that header, so for one the page mints a ticket for its session (an
// ephemeral `ek_` key, a minute to connect) and offers it as the `openai-insecure-api-key.<ticket>`
// subprotocol: the long-lived key never goes in a URL or a WebSocket handshake.

const STORE = 'voxgate.apiKey';

export const auth = {
  required: false, // the server answered 401 without a key
  key: sessionStorage.getItem(STORE) || null,
  me: null, // GET /api/me once signed in: {user, role, features}
};

export function setKey(key) {
  auth.key = key || null;
  auth.me = null;
  if (auth.key) sessionStorage.setItem(STORE, auth.key);
  else sessionStorage.removeItem(STORE);
}

const ASK = 'This server needs an API key: enter it and press Sign in (or Connect).';

/** Follow the server's answer to /api/client-config; false when it wants a (another) key. */
export function keyAccepted(config, ui, errors) {
  auth.required = Boolean(config.auth?.required);
  if (!auth.required) setKey(null); // an open server: a key from before would only get in the way
  if (!config.auth?.refused) return true;
  const why = config.auth.message ? ` (${config.auth.message})` : '';
  errors.add(auth.key ? `The server refused this API key${why}: enter another and press Sign in.` : ASK, 'auth_required', { key: 'auth' });
  setKey(null);
  return false;
}

/** Keep the key typed into `input` for this tab; false (and a message) when none was typed. */
export function takeTypedKey(input, errors) {
  const key = input.value.trim();
  if (!key) {
    errors.add(ASK, 'auth_required', { key: 'auth' });
    input.focus();
    return false;
  }
  setKey(key);
  input.value = '';
  errors.clear('auth');
  return true;
}

/** Who the key signs in as (`GET /api/me`), kept in `auth.me`; null when the server says no. */
export async function whoAmI() {
  if (!auth.key) return null;
  try {
    const response = await fetch('/api/me', { headers: authHeaders() });
    auth.me = response.ok ? await response.json() : null;
  } catch {
    auth.me = null;
  }
  return auth.me;
}

/** The account control: the sign-in form, or who is signed in and Sign out; nothing if open. */
export function renderAccount(ui) {
  const signedIn = auth.required && Boolean(auth.key) && Boolean(auth.me);
  ui.signIn.hidden = !auth.required || signedIn;
  ui.account.hidden = !signedIn;
  if (!signedIn) return;
  const me = auth.me;
  ui.userName.textContent = me.user?.name ?? (me.credential === 'api_key' ? 'API key' : 'signed in');
  ui.userRole.textContent = me.role;
  ui.userRole.dataset.role = me.role;
}

export function authHeaders() {
  return auth.key ? { Authorization: `Bearer ${auth.key}` } : {};
}

export class AuthError extends Error {}

/** The WebSocket subprotocols for `sessionId`: none without a key, else a ticket's. */
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
