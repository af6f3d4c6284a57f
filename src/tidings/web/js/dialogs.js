// The conversation list, paged with chat.list's cursor (protocol §5 chat.list):
// the first page at sign-in, the next one as the list is scrolled to its end,
// and a refresh that reloads as many rows as are shown. A direct chat's row
// names its peer (`peer_id`), so the people of a page are one user.get.
import { call } from './session.js';
import { store, chatView, changed } from './store.js';
import { loadUsers } from './users.js';

export const DIALOG_PAGE = 100;
const MAX_PAGE = 200; // the server's dialogs_max_limit default

let dialogsTimer = null;
let generation = 0;   // a refresh started after a page was asked for wins
let loadingMore = false;

export function refreshDialogs() {
  clearTimeout(dialogsTimer);
  // In the background: a failure (offline) is repaired by the reconnect's reload.
  dialogsTimer = setTimeout(() => loadDialogs().catch(() => {}), 100);
}

async function page(limit, cursor) {
  return call('chat.list', cursor ? { limit, cursor } : { limit });
}

// Rows in the server's order (pinned, then last activity), as numbers that
// sort the same way after the rows already held.
async function adopt(rows, into, base) {
  rows.forEach((row, index) => {
    row.activity = base - into.size - index;
    const view = chatView(row.chat.chat_id);
    view.chat = row.chat;
    view.read_pts = Math.max(view.read_pts, row.read_pts);
    view.role = row.role;
  });
  for (const row of rows) into.set(row.chat.chat_id, row);
  const ids = [];
  for (const row of rows) {
    if (row.last_message) ids.push(row.last_message.sender_id);
    if (row.peer_id) ids.push(row.peer_id);
  }
  await loadUsers(ids);
}

// Reload the top of the list: as many rows as are shown, at least one page.
export async function loadDialogs() {
  const mine = ++generation;
  const want = Math.max(DIALOG_PAGE, store.dialogs.size);
  const base = Math.floor(Date.now() / 1000);
  const rows = new Map();
  let cursor = null;
  do {
    const result = await page(Math.min(MAX_PAGE, want - rows.size), cursor);
    await adopt(result.chats, rows, base);
    cursor = result.next_cursor;
  } while (cursor && rows.size < want);
  if (mine !== generation) return;
  store.dialogs = rows;
  store.dialogsBase = base;
  store.dialogsCursor = cursor;
  changed();
}

// The next page, when the list is scrolled near its end.
export async function loadMoreDialogs() {
  if (!store.dialogsCursor || loadingMore) return;
  loadingMore = true;
  const mine = generation;
  try {
    const result = await page(DIALOG_PAGE, store.dialogsCursor);
    if (mine !== generation) return;
    const rows = new Map(store.dialogs);
    await adopt(result.chats.filter((r) => !rows.has(r.chat.chat_id)), rows, store.dialogsBase);
    if (mine !== generation) return;
    store.dialogs = rows;
    store.dialogsCursor = result.next_cursor;
    changed();
  } finally {
    loadingMore = false;
  }
}
