// One entry of the timeline: a system line, the "X recalled a message"
// marker, or a message bubble with its reply preview, text (mentions
// highlighted), media, tags, reactions, time, auto-delete deadline, read
// state and actions.
import { html, useState } from '../html.js';
import { store } from '../store.js';
import { mutate } from '../chats.js';
import { systemText, time, userName } from '../format.js';
import { Media } from './media.js';
import { ReadersDialog } from './readers.js';
import { ForwardDialog, mayPin } from './chat-tools.js';
import { TagChips, TagEditor, mayTag } from './tags.js';

const RECALL_WINDOW = 120;

function Text({ message }) {
  const text = message.text || '';
  const mentions = (message.entities || []).filter((e) => e.type === 'mention' || e.type === 'mention_all');
  if (!mentions.length) return html`<p class="text">${text}</p>`;
  const points = [...text];
  const parts = [];
  let at = 0;
  for (const e of [...mentions].sort((a, b) => a.offset - b.offset)) {
    parts.push(points.slice(at, e.offset).join(''));
    parts.push(html`<span class="mention">${points.slice(e.offset, e.offset + e.length).join('')}</span>`);
    at = e.offset + e.length;
  }
  parts.push(points.slice(at).join(''));
  return html`<p class="text">${parts}</p>`;
}

function ReplyPreview({ preview, onJump }) {
  const text = preview.state === 'recalled' ? 'recalled message'
    : preview.state === 'deleted' ? 'deleted message' : (preview.text || preview.kind);
  return html`
    <button class="reply-preview" onClick=${() => onJump(preview.msg_id)}
            aria-label=${`Reply to ${userName(preview.sender_id)}: ${text}. Show the original`}>
      <strong>${userName(preview.sender_id)}</strong> <span>${text}</span>
    </button>`;
}

function ReadState({ message, view }) {
  const [open, setOpen] = useState(false);
  if (view.chat?.kind === 'direct') {
    const read = (view.peer_read_pts || 0) >= message.msg_id;
    return html`<span class=${`ticks ${read ? 'read' : ''}`} aria-label=${read ? 'read' : 'sent'}>${read ? '✓✓' : '✓'}</span>`;
  }
  const count = view.readCounts.get(message.msg_id);
  if (count == null) return null;
  return html`
    <button class="link read-count" onClick=${() => setOpen(true)}>Read by ${count}</button>
    ${open && html`<${ReadersDialog} message=${message} view=${view} onClose=${() => setOpen(false)} />`}`;
}

// "disappears in 23 hours": a message's auto-delete deadline (ttl_expires_at).
export function disappearsIn(at, now = Date.now() / 1000) {
  const left = Math.max(0, at - now);
  if (left < 60) return 'disappears in a moment';
  const [n, unit] = left < 3600 ? [Math.round(left / 60), 'minute']
    : left < 86400 ? [Math.round(left / 3600), 'hour'] : [Math.round(left / 86400), 'day'];
  return `disappears in ${n} ${unit}${n === 1 ? '' : 's'}`;
}

function Actions({ message, view, onReply, onTags }) {
  const [forwarding, setForwarding] = useState(false);
  const mine = message.sender_id === store.me.user_id;
  const admin = view.role === 'owner' || view.role === 'admin';
  const fresh = Date.now() / 1000 - message.date < RECALL_WINDOW;
  const expired = view.chat?.expire_at && view.chat.expire_at <= Date.now() / 1000;
  const params = { chat_id: message.chat_id };
  const act = (method, extra) => mutate(method, { ...params, ...extra }).catch(() => {});
  return html`
    <div class="actions" role="group" aria-label="Message actions">
      ${!expired && html`<button class="link" onClick=${() => onReply(message)}>Reply</button>`}
      ${!expired && html`<button class="link" onClick=${() => act('message.react', { msg_id: message.msg_id, emoji: '👍' })}
              aria-label="React with thumbs up">👍</button>`}
      ${!expired && ((mine && fresh) || (admin && view.chat?.kind !== 'direct')) && html`
        <button class="link" onClick=${() => act('message.recall', { msg_id: message.msg_id })}>Recall</button>`}
      <button class="link" onClick=${() => setForwarding(true)}>Forward</button>
      ${!expired && mayTag(message, view) && html`<button class="link" onClick=${onTags}>Tags</button>`}
      ${!expired && mayPin(view) && (view.pinned.has(message.msg_id)
        ? html`<button class="link" onClick=${() => act('message.unpin', { msg_id: message.msg_id })}>Unpin</button>`
        : html`<button class="link" onClick=${() => act('message.pin', { msg_id: message.msg_id })}>Pin</button>`)}
      <button class="link" onClick=${() => act('message.delete', { msg_ids: [message.msg_id], for_everyone: false })}>Delete for me</button>
      ${!expired && ((mine && fresh) || admin) && html`
        <button class="link" onClick=${() => act('message.delete', { msg_ids: [message.msg_id], for_everyone: true })}>Delete for everyone</button>`}
      ${forwarding && html`<${ForwardDialog} message=${message} onClose=${() => setForwarding(false)} />`}
    </div>`;
}

function Reactions({ message }) {
  const entries = Object.entries(message.reactions || {});
  if (!entries.length) return null;
  const mine = new Set(message.my_reactions || []);
  return html`<div class="reactions">${entries.map(([emoji, n]) => html`
    <span class=${`reaction ${mine.has(emoji) ? 'mine' : ''}`} aria-label=${`${emoji} ${n}`}>${emoji} ${n}</span>`)}</div>`;
}

export function MessageItem({ message, view, onReply, onJump, highlighted }) {
  const id = `msg-${message.chat_id}-${message.msg_id}`;
  const [tagging, setTagging] = useState(false);
  if (message.kind === 'system') {
    return html`<li id=${id} class="system" data-msg-id=${message.msg_id}>${systemText(message)}</li>`;
  }
  if (message.recalled_at) {
    const who = message.recalled_by === store.me.user_id ? 'You' : userName(message.recalled_by || message.sender_id);
    return html`<li id=${id} class="system recalled" data-msg-id=${message.msg_id}>${who} recalled a message</li>`;
  }
  const mine = message.sender_id === store.me.user_id;
  const group = view.chat?.kind !== 'direct';
  return html`
    <li id=${id} class=${`message ${mine ? 'mine' : 'theirs'} ${highlighted ? 'highlight' : ''}`}
        data-msg-id=${message.msg_id} tabindex="-1">
      <div class="bubble">
        ${group && !mine && html`<div class="sender">${userName(message.sender_id)}</div>`}
        ${message.forward_from && html`<div class="forwarded">Forwarded from ${userName(message.forward_from.sender_id)}</div>`}
        ${message.reply_preview && html`<${ReplyPreview} preview=${message.reply_preview} onJump=${onJump} />`}
        <${Media} message=${message} view=${view} />
        ${message.text && html`<${Text} message=${message} />`}
        <${TagChips} tags=${message.tags} />
        ${tagging && html`<${TagEditor} message=${message} onClose=${() => setTagging(false)} />`}
        <${Reactions} message=${message} />
        <div class="meta">
          <time datetime=${new Date(message.date * 1000).toISOString()}>${time(message.date)}</time>
          ${message.ttl_expires_at && html`<span class="ttl" title=${new Date(message.ttl_expires_at * 1000).toLocaleString()}>⏱ ${disappearsIn(message.ttl_expires_at)}</span>`}
          ${mine && html`<${ReadState} message=${message} view=${view} />`}
        </div>
      </div>
      <${Actions} message=${message} view=${view} onReply=${onReply} onTags=${() => setTagging(!tagging)} />
    </li>`;
}

export function PendingItem({ item }) {
  return html`
    <li class="message mine pending">
      <div class="bubble">
        ${item.params.text && html`<p class="text">${item.params.text}</p>`}
        ${item.progress != null && html`
          <div class="upload">
            <span>${item.name}</span>
            <progress max="1" value=${item.progress} aria-label=${`Uploading ${item.name}`}></progress>
          </div>`}
        <div class="meta">${item.state === 'waiting' ? 'waiting for the network…' : 'sending…'}</div>
      </div>
    </li>`;
}
