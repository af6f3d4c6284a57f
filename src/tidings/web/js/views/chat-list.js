// The conversation list: pinned first, unread and mention badges, the last
// message's preview, muted chats dimmed; the next page of chat.list loads as
// it is scrolled to its end.
import { html, useEffect, useRef } from '../html.js';
import { store, sortedDialogs, navigate } from '../store.js';
import { preview, time, userName } from '../format.js';
import { Avatar } from './avatar.js';
import { loadMoreDialogs } from '../dialogs.js';

const EDGE = 200; // px from the end of the list that loads the next page

// A direct chat shows the other member's picture; a group or channel its own.
export function chatAvatar(row, size = 'small') {
  const chat = row.chat;
  const peer = chat.kind === 'direct' ? store.users.get(row.peer_id) : null;
  const fileId = chat.kind === 'direct' ? peer?.avatar_file_id : chat.avatar_file_id;
  const seed = chat.kind === 'direct' ? (row.peer_id || 0) : chat.chat_id;
  return html`<${Avatar} fileId=${fileId} name=${chatTitle(row)} seed=${seed} size=${size} />`;
}

export function chatTitle(row) {
  const chat = row.chat;
  if (chat.kind !== 'direct') return chat.title;
  if (row.peer_id === store.me?.user_id || chat.member_count === 1) return 'Saved messages';
  return row.peer_id ? userName(row.peer_id) : 'Direct chat';
}

function Row({ row, active }) {
  const muted = row.muted_until > Date.now() / 1000;
  const open = () => navigate({ name: 'chat', chatId: row.chat.chat_id });
  return html`
    <li class=${`dialog ${active ? 'active' : ''} ${muted ? 'muted' : ''}`}>
      <button class="dialog-button with-avatar" onClick=${open}
              aria-current=${active ? 'page' : undefined}
              data-chat-id=${row.chat.chat_id}>
        ${chatAvatar(row)}
        <span class="dialog-text">
        <span class="dialog-title">
          ${row.pinned && html`<span class="pin" aria-label="pinned">📌</span>`}
          <span class="name">${chatTitle(row)}</span>
          ${muted && html`<span class="mute" aria-label="muted">🔕</span>`}
          <span class="when">${row.last_message ? time(row.last_message.date) : ''}</span>
        </span>
        <span class="dialog-preview">
          <span class="preview">${preview(row)}</span>
          ${row.unread_mentions > 0 && html`<span class="badge mention" aria-label=${`${row.unread_mentions} mentions`}>@</span>`}
          ${row.unread_count > 0 && html`<span class="badge unread" aria-label=${`${row.unread_count} unread`}>${row.unread_count}</span>`}
        </span>
        </span>
      </button>
    </li>`;
}

export function ChatList() {
  const rows = sortedDialogs();
  const current = store.route.chatId;
  const list = useRef(null);
  function onScroll() {
    const el = list.current;
    if (el && store.dialogsCursor && el.scrollHeight - el.scrollTop - el.clientHeight < EDGE) {
      loadMoreDialogs().catch(() => {});
    }
  }
  // A list shorter than the pane cannot be scrolled: fill the pane.
  useEffect(onScroll, [rows.length, store.dialogsCursor]);
  return html`
    <nav class="chat-list" aria-label="Conversations" ref=${list} onScroll=${onScroll}>
      <div class="list-head">
        <h1>Chats</h1>
        <span class="row">
          <button class="secondary" onClick=${() => navigate({ name: 'people' })}>People</button>
          <button class="secondary" onClick=${() => navigate({ name: 'new' })}>New chat</button>
        </span>
      </div>
      ${rows.length === 0 && html`<p class="empty">No conversations yet.</p>`}
      <ul>${rows.map((row) => html`<${Row} key=${row.chat.chat_id} row=${row} active=${row.chat.chat_id === current} />`)}</ul>
      ${store.dialogsCursor && html`<p class="empty more" aria-live="polite">Loading older conversations…</p>`}
    </nav>`;
}
