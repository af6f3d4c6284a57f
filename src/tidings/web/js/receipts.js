// Read state of my messages: counts in groups (read.receipts, up to 100 at a
// time), the peer's cursor in direct chats; refreshed on the live `read` push.
import { call } from './session.js';
import { store, changed } from './store.js';

export async function loadReadCounts(view) {
  if (!view.chat || view.chat.kind === 'direct') return;
  const mine = [...view.messages.values()]
    .filter((m) => m.sender_id === store.me.user_id && m.kind !== 'system' && !m.recalled_at)
    .map((m) => m.msg_id).sort((a, b) => b - a).slice(0, 100);
  if (!mine.length) return;
  try {
    const result = await call('read.receipts', { chat_id: view.chat_id, msg_ids: mine });
    for (const [id, n] of Object.entries(result.counts)) view.readCounts.set(Number(id), n);
    changed();
  } catch {
    // Counts are a hint; the next message or read push asks again.
  }
}

export function onReadPush(push) {
  const view = store.chats.get(push.chat_id);
  if (!view) return;
  if (view.chat?.kind === 'direct') {
    view.peer_read_pts = Math.max(view.peer_read_pts || 0, push.read_pts);
    const row = store.dialogs.get(push.chat_id);
    if (row) row.peer_read_pts = view.peer_read_pts;
    changed();
  } else if (view.loaded) {
    loadReadCounts(view);
  }
}
