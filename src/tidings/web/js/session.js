// Signing in, the one live connection, and reconnecting with backoff: after
// any drop (sleep, network change, server restart) the client reconnects with
// its token and replays what it missed with sync.get_difference (§7).
import { Connection, RpcError } from './api.js';
import { store, changed, notify } from './store.js';
import { Sync } from './sync.js';

const TOKEN_KEY = 'tidings.token';
let conn = null;
let sync = null;
let retries = 0;
let reconnectTimer = null;
let deviceName = navigator.userAgent.includes('Mobile') ? 'phone browser' : 'web browser';
const onlineHooks = new Set();
const pushHooks = new Set();

export function call(method, params = {}) {
  if (!conn) return Promise.reject(new RpcError('DISCONNECTED', 'not connected'));
  return conn.call(method, params);
}

export function getSync() {
  return sync;
}

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

// Run after every (re)connection that caught up: views refresh what they show.
export function onOnline(hook) {
  onlineHooks.add(hook);
  return () => onlineHooks.delete(hook);
}

// Ephemeral pushes (typing, read, presence) for the views that show them.
export function onPush(hook) {
  pushHooks.add(hook);
  return () => pushHooks.delete(hook);
}

export function configure({ refreshDialogs, refetchMessages }) {
  sync = new Sync(call, { refreshDialogs, refetchMessages });
}

function handlePush(push) {
  if (push.push === 'chat_updates' || push.push === 'user_updates') sync.handlePush(push);
  for (const hook of pushHooks) hook(push);
}

async function connect() {
  const next = new Connection({ onPush: handlePush, onClose: dropped });
  await next.open();
  conn = next;
  return next;
}

async function authenticate(method, params) {
  store.status = 'connecting';
  changed();
  await connect();
  let result;
  try {
    result = await conn.call(method, params);
  } catch (error) {
    const failed = conn;
    conn = null;
    failed.close();
    store.status = 'signed-out';
    changed();
    throw error;
  }
  if (result.token) localStorage.setItem(TOKEN_KEY, result.token);
  store.me = { user_id: result.user_id, device_id: result.device_id };
  await online();
  return result;
}

async function online() {
  retries = 0;
  await sync.catchUp();
  store.status = 'online';
  changed();
  for (const hook of onlineHooks) hook();
}

export function signIn(register, username, password) {
  const method = register ? 'auth.register' : 'auth.login';
  return authenticate(method, { username, password, device_name: deviceName });
}

export async function resume() {
  const saved = token();
  if (!saved) return false;
  try {
    await authenticate('auth.token', { token: saved });
    return true;
  } catch (error) {
    if (error.code === 'UNAUTHORIZED') localStorage.removeItem(TOKEN_KEY);
    else notify(`Could not reach the server: ${error.message}`);
    return false;
  }
}

export function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  location.hash = '#/';
  location.reload();
}

function dropped(which) {
  if (which !== conn) return;
  conn = null;
  if (store.status === 'signed-out') return;
  store.status = 'offline';
  changed();
  scheduleReconnect();
}

// Exponential backoff with jitter: a restarting server drops every client at once.
function scheduleReconnect(delay) {
  clearTimeout(reconnectTimer);
  if (!navigator.onLine) return; // the 'online' event brings us back
  const wait = delay ?? Math.min(15000, 500 * 2 ** retries) * (0.5 + Math.random() / 2);
  retries += 1;
  reconnectTimer = setTimeout(reconnect, wait);
}

async function reconnect() {
  if (conn || !token()) return;
  try {
    await connect();
    const result = await conn.call('auth.token', { token: token() });
    store.me = { ...store.me, user_id: result.user_id, device_id: result.device_id };
    await online();
  } catch (error) {
    if (error.code === 'UNAUTHORIZED') {
      notify('This device was signed out.');
      signOut();
      return;
    }
    if (conn) {
      const failed = conn;
      conn = null;
      failed.close();
    }
    store.status = 'offline';
    changed();
    scheduleReconnect();
  }
}

// The browser knows first when the network goes away (a laptop sleeping, a
// phone in a tunnel): drop the socket at once and come back when it returns.
window.addEventListener('offline', () => {
  if (!conn) return;
  const closing = conn;
  conn = null;
  closing.close();
  store.status = 'offline';
  changed();
});
window.addEventListener('online', () => {
  if (store.me && !conn) scheduleReconnect(0);
});
