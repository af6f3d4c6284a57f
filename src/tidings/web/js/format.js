// Dates, sizes and the words for system messages and media kinds.
import { userName, handle } from './users.js';

export function day(unix) {
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export function time(unix) {
  const d = new Date(unix * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export function bytes(n) {
  if (n == null) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value >= 10 || unit === 0 ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${units[unit]}`;
}

export const KIND_ICON = { image: '🖼', video: '📼', audio: '🎵', file: '📄' };
export const KIND_NAME = { image: 'photo', video: 'video', audio: 'audio file', file: 'file' };

export function retentionText(seconds) {
  if (!seconds) return 'forever';
  const days = seconds / 86400;
  if (Number.isInteger(days)) return days === 1 ? '1 day' : `${days} days`;
  return `${Math.round(seconds / 3600)} hours`;
}

function names(ids) {
  return (ids || []).map(userName).join(', ');
}

export function systemText(message) {
  const s = message.system || {};
  const by = userName(s.by ?? message.sender_id);
  switch (s.action) {
    case 'chat.created': return `${by} created “${s.title}”`;  // a group or a channel
    case 'member.added': return `${by} added ${names(s.user_ids)}`;
    case 'member.removed': return `${by} removed ${names(s.user_ids)}`;
    case 'member.left': return `${names(s.user_ids)} left`;
    case 'member.joined': return `${s.user_ids ? names(s.user_ids) : by} joined by invite link`;
    case 'expiry.set': return s.expire_at ? `${by} set this chat to expire on ${day(s.expire_at)}`
      : `${by} made this chat never expire`;
    case 'chat.expired': return 'This chat expired; its history stays readable';
    case 'ttl.changed': return s.seconds ? `${by} turned on auto-delete after ${retentionText(s.seconds)}`
      : `${by} turned off auto-delete`;
    case 'message.pinned': return `${by} pinned a message`;
    case 'history.cleared': return `${by} cleared the history`;
    case 'storage.changed':
      if (s.cleanup === false) return `${by} set media to be kept`;
      return `${by} set message retention to ${retentionText(s.media_ttl_seconds)}`;
    default: return `${by}: ${s.action || 'changed the chat'}`;
  }
}

export function preview(row) {
  const m = row.last_message;
  if (!m) return 'No messages yet';
  if (row.last_message_state === 'recalled') return `${userName(m.sender_id)} recalled a message`;
  if (row.last_message_state === 'deleted') return 'Message deleted';
  if (m.kind === 'system') return systemText(m);
  if (m.file || m.file_id) return `${KIND_ICON[m.kind] || '📄'} ${m.text || KIND_NAME[m.kind] || 'file'}`;
  if (m.kind === 'location') return '📍 Location';
  return m.text || '';
}

export { userName, handle };
