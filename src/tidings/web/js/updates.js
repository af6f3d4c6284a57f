// Applying one update to the state (protocol §6–§7). Pure state changes, no
// network: sync.js decides the order and fills gaps; the follow-up fetches an
// update asks for (fresh file actions, the conversation list) are returned.
import { store, chatView } from './store.js';

const EMPTY_CONTENT = { text: null, entities: null, location: null, file_id: null, file: null,
  attributes: null, tags: [] };

function touchDialog(view, update, message) {
  const row = store.dialogs.get(view.chat_id);
  if (!row) return;
  row.activity = Math.max(row.activity || 0, update.date || 0);
  if (!message) return;
  row.last_message = message;
  row.last_message_state = message.recalled_at ? 'recalled' : 'ok';
  const mine = message.sender_id === store.me?.user_id;
  // The chat on screen is read as it arrives (chat-view marks it).
  const onScreen = store.route.name === 'chat' && store.route.chatId === view.chat_id
    && view.newest && document.visibilityState === 'visible';
  if (!mine && !onScreen && message.kind !== 'system' && message.msg_id > view.read_pts) {
    row.unread_count += 1;
  }
}

function onMessage(view, msgId, change) {
  const message = view.messages.get(msgId);
  if (message) view.messages.set(msgId, { ...message, ...change });
  const row = store.dialogs.get(view.chat_id);
  if (row?.last_message?.msg_id === msgId) {
    row.last_message = { ...row.last_message, ...change };
    if (change.recalled_at) row.last_message_state = 'recalled';
  }
}

function dropMessages(view, msgIds) {
  for (const id of msgIds || []) {
    view.messages.delete(id);
    view.pinned.delete(id);
    const row = store.dialogs.get(view.chat_id);
    if (row?.last_message?.msg_id === id) row.last_message_state = 'deleted';
  }
}

function setChat(view, fields) {
  view.chat = { ...(view.chat || {}), ...fields };
  const row = store.dialogs.get(view.chat_id);
  if (row) row.chat = { ...row.chat, ...fields };
}

// Returns follow-up work: {refreshDialogs?, refetch?: [msg_ids]}.
export function applyChatUpdate(view, u) {
  const after = {};
  switch (u.kind) {
    case 'message.new':
      if (view.loaded && view.newest) view.messages.set(u.message.msg_id, u.message);
      view.pending = view.pending.filter((p) => p.local_id !== u.message.local_id
        || u.message.sender_id !== store.me?.user_id);
      touchDialog(view, u, u.message);
      // A chat below the pages of the list loaded so far comes to the top.
      if (!store.dialogs.has(view.chat_id)) after.refreshDialogs = true;
      view.typing.delete(u.message.sender_id);
      // The auto-delete setting changes by a system message (chat.set_message_ttl).
      if (u.message.system?.action === 'ttl.changed') setChat(view, { message_ttl: u.message.system.seconds ?? null });
      break;
    case 'message.recalled':
      onMessage(view, u.msg_id, { ...EMPTY_CONTENT, recalled_at: u.recalled_at,
        recalled_by: u.recalled_by });
      touchDialog(view, u, null);
      break;
    case 'message.deleted':
      dropMessages(view, u.msg_ids);
      after.refreshDialogs = true;
      break;
    case 'history.cleared':
      dropMessages(view, [...view.messages.keys()].filter((id) => id <= u.upto_pts));
      after.refreshDialogs = true;
      break;
    case 'message.reactions': {
      const change = { reactions: u.reactions };
      if (u.user_id === store.me?.user_id) change.my_reactions = u.user_reactions;
      onMessage(view, u.msg_id, change);
      break;
    }
    case 'message.attributes':
      onMessage(view, u.msg_id, { attributes: u.attributes, tags: u.tags });
      break;
    case 'message.ttl_started':
      for (const id of u.msg_ids) onMessage(view, id, { ttl_expires_at: u.ttl_expires_at });
      break;
    case 'message.pinned':
      view.pinned.add(u.msg_id);
      break;
    case 'message.unpinned':
      view.pinned.delete(u.msg_id);
      break;
    case 'chat.created':
      setChat(view, u.chat);
      break;
    case 'chat.expire_set':
    case 'chat.expired':
      setChat(view, { expire_at: u.expire_at });
      break;
    case 'chat.permissions':
      setChat(view, { permissions: u.permissions });
      break;
    case 'chat.updated': {
      const { pts, kind, date, by, storage, ...fields } = u;
      if (storage) view.storage = { ...(view.storage || {}), ...storage };
      else setChat(view, fields);
      break;
    }
    case 'member.muted':
      // A moderator's mute: the member list and, if it is me, the composer.
      view.members = view.members && view.members.map((m) => (m.user_id === u.user_id
        ? { ...m, muted_until: u.until } : m));
      if (u.user_id === store.me?.user_id) view.mutedUntil = u.until;
      break;
    case 'member.banned':
    case 'member.unbanned':
      view.bansSeen = u.pts; // the ban list (group info) reads again
      break;
    case 'member.joined':
    case 'member.left':
    case 'member.role':
      if (u.kind === 'member.role' && u.user_id === store.me?.user_id) view.role = u.role;
      if (view.chat && u.kind !== 'member.role') {
        setChat(view, { member_count: view.chat.member_count + (u.kind === 'member.joined' ? 1 : -1) });
      }
      view.members = null; // reloaded by the views that show them
      after.refreshDialogs = u.user_id === store.me?.user_id;
      break;
    case 'pool.updated':
      view.pool = { ...(view.pool || {}), ...u.pool };
      break;
    default:
      if (u.kind.startsWith('media.') && u.file) {
        // The pushed file is the same for every member, so its `actions` are
        // empty: show the new state now, then fetch this viewer's actions.
        for (const id of u.msg_ids || []) onMessage(view, id, { file: u.file, file_id: u.file_id });
        after.refetch = (u.msg_ids || []).filter((id) => view.messages.has(id));
      }
  }
  touchDialog(view, u, null);
  return after;
}

export function forgetFromUserUpdate(u) {
  const view = store.chats.get(u.chat_id);
  if (!view) return;
  if (u.kind === 'message.hidden') dropMessages(view, u.msg_ids);
  if (u.kind === 'history.cleared') {
    dropMessages(view, [...view.messages.keys()].filter((id) => id <= u.upto_pts));
  }
}

export function chatFromJoin(u) {
  const chat = u.chat || {};
  const existing = store.chats.get(chat.chat_id);
  const view = chatView(chat.chat_id);
  const start = u.visible_from ?? u.joined_pts;
  if (!existing) view.pts = Math.max((start || 1) - 1, 0);
  else if (start - 1 < view.pts) view.pts = Math.max(start - 1, 0);
  if (u.forget_before) {
    for (const id of [...view.messages.keys()]) if (id < u.forget_before) view.messages.delete(id);
  }
  view.left = false;
  view.read_pts = Math.max(view.read_pts, u.read_pts || 0);
  view.chat = { ...chat };
  return view;
}
