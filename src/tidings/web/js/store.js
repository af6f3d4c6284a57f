// The client's state, kept in plain objects, and a tiny subscription so views
// re-render after each change (batched to one render per microtask).
import { useEffect, useState } from './html.js';

export const store = {
  me: null,              // {user_id, username, device_id}
  status: 'signed-out',  // signed-out | connecting | online | offline
  chats: new Map(),      // chat_id -> ChatView (sync state and the loaded window)
  dialogs: new Map(),    // chat_id -> Dialog row of chat.list
  dialogsCursor: null,   // chat.list's next_cursor: more conversations to page in
  dialogsBase: 0,        // the time the list was loaded (rows sort below it)
  users: new Map(),      // user_id -> User
  presence: new Map(),   // user_id -> {status, last_seen}, of the users we follow
  route: { name: 'list' },
  jumpTo: null,          // {chatId, msgId}: the message a chat opens at (a search result)
  notice: null,          // {kind: 'error'|'info', text}
};

export function chatView(chatId) {
  let view = store.chats.get(chatId);
  if (!view) {
    view = {
      chat_id: chatId,
      chat: null,
      pts: 0,
      read_pts: 0,
      left: false,
      loaded: false,       // the message window below holds a real page
      newest: false,       // ...and reaches the chat's newest message
      hasOlder: true,
      messages: new Map(), // msg_id -> Message, only the loaded window
      pinned: new Set(),
      typing: new Map(),   // user_id -> {action, until}
      readCounts: new Map(),
      pending: [],         // sends not yet acknowledged
      storage: null,
      pool: null,
    };
    store.chats.set(chatId, view);
  }
  return view;
}

const listeners = new Set();
let scheduled = false;

export function changed() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    for (const listener of [...listeners]) listener();
  });
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Re-render the calling component whenever the store changes.
export function useStore() {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => setTick((t) => t + 1)), []);
  return store;
}

export function navigate(route) {
  store.route = route;
  const hash = route.name === 'chat' ? `#/chat/${route.chatId}`
    : route.name === 'list' ? '#/' : route.name === 'join' ? `#/join/${route.invite}`
      : `#/${route.name}${route.chatId ? `/${route.chatId}` : ''}`;
  if (location.hash !== hash) history.pushState(null, '', hash);
  changed();
}

export function routeFromHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (!parts.length) return { name: 'list' };
  if (parts[0] === 'join') return { name: 'join', invite: parts[1] || '' };
  const chatId = parts[1] ? Number(parts[1]) : null;
  return { name: parts[0], chatId };
}

export function notify(text, kind = 'error') {
  store.notice = { text, kind, at: Date.now() };
  changed();
}

export function sortedDialogs() {
  const rows = [...store.dialogs.values()].filter((d) => !d.hidden);
  return rows.sort((a, b) => {
    if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
    if (a.pinned) return a.pinned_order - b.pinned_order;
    return (b.activity - a.activity) || (b.chat.chat_id - a.chat.chat_id);
  });
}
