// What the views ask for: a chat's members and message window
// (newest page, older and newer pages, a jump to one message), sending,
// recalling and reading. Each goes through the connection; the pushes and the
// sync queue keep the result current.
import { call, getSync } from './session.js';
import { store, chatView, changed, notify } from './store.js';
import { PAGE } from './sync.js';
import { loadUsers } from './users.js';

export { loadDialogs, refreshDialogs } from './dialogs.js';

export async function loadMembers(chatId) {
  const result = await call('chat.get', { chat_id: chatId });
  const view = chatView(chatId);
  view.chat = result.chat;
  view.role = result.role;
  view.members = result.members;
  const mine = result.members.find((m) => m.user_id === store.me.user_id);
  if (mine) view.mutedUntil = mine.muted_until;
  // Oldest pin first, so a pin that arrives later (an update) goes last.
  view.pinned = new Set([...result.pinned_msg_ids].reverse());
  view.peer_read_pts = result.peer_read_pts;
  await loadUsers(result.members.map((m) => m.user_id));
  changed();
  return view;
}

export async function refetchMessages(chatId, msgIds) {
  const view = chatView(chatId);
  const result = await call('message.get', { chat_id: chatId, msg_ids: msgIds });
  for (const m of result.messages) if (view.messages.has(m.msg_id)) view.messages.set(m.msg_id, m);
  changed();
}

function keep(view, messages) {
  for (const m of messages) view.messages.set(m.msg_id, m);
  loadUsers(messages.map((m) => m.sender_id)).catch(() => {});
}

export async function openChat(chatId) {
  const view = chatView(chatId);
  if (!view.members) await loadMembers(chatId);
  if (!view.loaded) await loadNewest(view);
  return view;
}

export async function loadNewest(view) {
  const page = await call('message.history', { chat_id: view.chat_id, limit: PAGE });
  view.messages = new Map();
  keep(view, page.messages);
  view.loaded = true;
  view.newest = true;
  view.hasOlder = page.messages.length === PAGE;
  changed();
}

export async function loadOlder(view) {
  if (!view.hasOlder || view.loadingOlder) return 0;
  view.loadingOlder = true;
  try {
    const before = Math.min(...view.messages.keys());
    const page = await call('message.history', { chat_id: view.chat_id, before, limit: PAGE });
    keep(view, page.messages);
    view.hasOlder = page.messages.length === PAGE;
    changed();
    return page.messages.length;
  } finally {
    view.loadingOlder = false;
  }
}

export async function loadNewer(view) {
  if (view.newest || view.loadingNewer) return 0;
  view.loadingNewer = true;
  try {
    const after = Math.max(...view.messages.keys());
    const page = await call('message.history', { chat_id: view.chat_id, after, limit: PAGE });
    keep(view, page.messages);
    view.newest = page.messages.length < PAGE;
    changed();
    return page.messages.length;
  } finally {
    view.loadingNewer = false;
  }
}

// A window around one message (a reply's original far up the history).
export async function loadAround(view, msgId) {
  if (view.messages.has(msgId)) return true;
  const half = PAGE / 2;
  const older = await call('message.history', { chat_id: view.chat_id, before: msgId + 1, limit: half });
  if (!older.messages.some((m) => m.msg_id === msgId)) return false;
  const newer = await call('message.history', { chat_id: view.chat_id, after: msgId, limit: half });
  view.messages = new Map();
  keep(view, [...older.messages, ...newer.messages]);
  view.hasOlder = older.messages.length === half;
  view.newest = newer.messages.length < half;
  changed();
  return true;
}

function localId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `w-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

// Shows the message at once as pending; retried with the same local_id after
// a lost connection, so the server never stores it twice.
export async function send(chatId, params, pending = null) {
  const view = chatView(chatId);
  const item = pending || { local_id: localId(), params, state: 'sending', date: Date.now() / 1000 };
  if (!pending) view.pending.push(item);
  changed();
  try {
    const result = await call('message.send', { chat_id: chatId, local_id: item.local_id, ...params });
    view.pending = view.pending.filter((p) => p !== item);
    if (!view.newest) await loadNewest(view);
    await getSync().recordSent(result.message);
    return result.message;
  } catch (error) {
    if (error.code === 'DISCONNECTED') {
      item.state = 'waiting';
    } else {
      view.pending = view.pending.filter((p) => p !== item);
      notify(error.message);
    }
    changed();
    return null;
  }
}

export function resendPending() {
  for (const view of store.chats.values()) {
    for (const item of view.pending.filter((p) => p.state === 'waiting')) {
      item.state = 'sending';
      send(view.chat_id, item.params, item);
    }
  }
}

// Any RPC that answers {pts}: wait until our view has applied it.
export async function mutate(method, params) {
  try {
    const result = await call(method, params);
    if (result && typeof result.pts === 'number' && params.chat_id) {
      await getSync().ensurePts(params.chat_id, result.pts);
    }
    return result;
  } catch (error) {
    notify(error.message);
    throw error;
  }
}

let readTimer = null;
export function markRead(view) {
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    if (view.read_pts >= view.pts || document.visibilityState !== 'visible') return;
    const result = await call('read.mark', { chat_id: view.chat_id, pts: view.pts }).catch(() => null);
    if (!result) return; // offline: marked again when the chat is next shown
    view.read_pts = Math.max(view.read_pts, result.read_pts);
    const row = store.dialogs.get(view.chat_id);
    if (row) {
      row.unread_count = 0;
      row.unread_mentions = 0;
    }
    changed();
  }, 150);
}
