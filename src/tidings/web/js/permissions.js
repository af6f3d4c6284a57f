// What the server allows this viewer in a chat (docs/protocol.md §5, "Groups:
// roles, permissions and moderation"; the server's services/permissions.py),
// so that screens offer only what it will accept. The server still decides:
// a refusal shows its own message.

export const RANK = { owner: 4, admin: 3, member: 2, restricted: 1, readonly: 0 };
const CHANNEL_ADMIN_ONLY = new Set(['send_messages', 'send_media', 'mention_all', 'add_members']);
const RESTRICTED_NEVER = new Set(['send_media', 'mention_all', 'add_members', 'invite_users']);
const READONLY_MAY = new Set(['view_history', 'export']);

export function rankOf(view) {
  return RANK[view.role] ?? -1;
}

export function isAdmin(view) {
  return rankOf(view) >= RANK.admin;
}

// A permission of the chat's (send_messages, change_info, ...) for this viewer.
export function may(view, permission) {
  const chat = view.chat;
  if (!chat || !view.role) return false;
  if (chat.kind === 'direct') return permission !== 'change_info';
  if (isAdmin(view)) return true;
  if (chat.kind === 'channel' && CHANNEL_ADMIN_ONLY.has(permission)) return false;
  if (view.role === 'readonly' && !READONLY_MAY.has(permission)) return false;
  if (view.role === 'restricted' && RESTRICTED_NEVER.has(permission)) return false;
  return !!chat.permissions?.[permission];
}

// Acting on another member (remove, ban, mute, set a role) needs a rank above theirs.
export function mayActOn(view, member, myId) {
  return member.user_id !== myId && isAdmin(view) && rankOf(view) > (RANK[member.role] ?? 0);
}

// Why this viewer cannot post now, in the words the composer shows; null if they can.
export function postingRefusal(view, now = Date.now() / 1000) {
  const chat = view.chat;
  if (!chat || !view.role || chat.kind === 'direct') return null;
  if (chat.kind === 'channel' && !isAdmin(view)) return 'Only admins can post in this channel.';
  if (view.role === 'readonly') return 'You can read this chat but not post in it.';
  if (!may(view, 'send_messages')) return 'Members may not send messages in this chat.';
  if (isAdmin(view)) return null;
  if (view.mutedUntil > now) {
    const until = new Date(view.mutedUntil * 1000)
      .toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    return `You are muted in this chat until ${until}.`;
  }
  if (chat.mute_all) return 'Only admins can post while the chat is muted for everyone.';
  return null;
}
