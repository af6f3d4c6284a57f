// Things a chat's header offers: the pinned message bar, search in the chat,
// the forward dialog, and the other member's presence in a direct chat.
import { html, useEffect, useState } from '../html.js';
import { call, onOnline } from '../session.js';
import { mutate } from '../chats.js';
import { notify, sortedDialogs, store, changed } from '../store.js';
import { time } from '../format.js';
import { chatTitle } from './chat-list.js';
import { Modal } from './modal.js';

export function mayPin(view) {
  if (view.chat?.kind === 'direct') return true;
  return view.role === 'owner' || view.role === 'admin'
    || (view.role === 'member' && view.chat?.permissions?.pin_messages);
}

export function PinnedBar({ view, onJump }) {
  const pins = [...view.pinned];
  const newest = pins[pins.length - 1];
  const [message, setMessage] = useState(null);
  useEffect(() => {
    if (!newest) return;
    const held = view.messages.get(newest);
    if (held) setMessage(held);
    else call('message.get', { chat_id: view.chat_id, msg_ids: [newest] })
      .then((r) => setMessage(r.messages[0] || null), () => setMessage(null));
  }, [newest, view.chat_id]);
  if (!newest || !message || message.msg_id !== newest) return null;
  return html`
    <div class="pinned-bar">
      <button class="link" onClick=${() => onJump(newest)} aria-label=${`Pinned message: ${message.text || message.kind}. Show it`}>
        📌 <span>${message.text || message.kind}</span>
      </button>
      ${pins.length > 1 && html`<span class="hint">${pins.length} pinned</span>`}
      ${mayPin(view) && html`<button class="link" onClick=${() => mutate('message.unpin', { chat_id: view.chat_id, msg_id: newest }).catch(() => {})}>Unpin</button>`}
    </div>`;
}

// Search in this chat: by text, or by one of the chat's tags (message.list_tags,
// then message.search with `tag`), or both.
export function SearchPanel({ view, onJump, onClose }) {
  const [query, setQuery] = useState('');
  const [tag, setTag] = useState(null);
  const [tags, setTags] = useState([]);
  const [results, setResults] = useState(null);
  useEffect(() => {
    call('message.list_tags', { chat_id: view.chat_id }).then((r) => setTags(r.tags), () => {});
  }, [view.chat_id]);
  async function search(text, byTag) {
    const params = { chat_id: view.chat_id, limit: 50 };
    if (text) params.query = text;
    if (byTag) params.tag = byTag;
    try {
      const result = await call('message.search', params);
      setResults(result.results);
    } catch (error) {
      notify(error.message);
    }
  }
  function pick(next) {
    const chosen = next === tag ? null : next;
    setTag(chosen);
    if (chosen || query.trim().length >= 2) search(query.trim(), chosen);
    else setResults(null);
  }
  return html`
    <div class="search-panel">
      <form class="row" role="search" onSubmit=${(e) => { e.preventDefault(); search(query.trim(), tag); }}>
        <input type="search" aria-label="Search this chat" value=${query} minlength="2"
               onInput=${(e) => setQuery(e.target.value)} />
        <button type="submit" disabled=${query.trim().length < 2}>Search</button>
        <button type="button" class="link" onClick=${onClose}>Close</button>
      </form>
      ${tags.length > 0 && html`
        <div class="row tag-filter" role="group" aria-label="Filter by tag">
          ${tags.map((t) => html`<button key=${t.tag} class=${`tag ${tag === t.tag ? 'chosen' : ''}`}
              aria-pressed=${tag === t.tag} onClick=${() => pick(t.tag)}>#${t.tag} <span class="hint">${t.count}</span></button>`)}
        </div>`}
      ${results && html`
        <ul class="search-results" aria-label="Search results">
          ${results.length === 0 && html`<li class="hint">Nothing found.</li>`}
          ${results.map((r) => html`<li key=${r.message.msg_id}>
            <button class="link" onClick=${() => onJump(r.message.msg_id)}>
              ${time(r.message.date)} · ${r.message.text || r.message.kind}</button></li>`)}
        </ul>`}
    </div>`;
}

export function ForwardDialog({ message, onClose }) {
  const rows = sortedDialogs().filter((d) => !(d.chat.expire_at && d.chat.expire_at <= Date.now() / 1000));
  async function forward(toChatId) {
    try {
      const localId = `fw-${message.chat_id}-${message.msg_id}-${toChatId}-${Date.now()}`;
      await call('message.forward', { from_chat_id: message.chat_id, msg_ids: [message.msg_id],
        to_chat_id: toChatId, local_id: localId });
      notify('Forwarded.', 'info');
      onClose();
    } catch (error) {
      notify(error.message);
    }
  }
  return html`
    <${Modal} title="Forward to…" onClose=${onClose}>
      <ul class="forward-list">${rows.map((row) => html`<li key=${row.chat.chat_id}>
        <button class="secondary" onClick=${() => forward(row.chat.chat_id)}>${chatTitle(row)}</button></li>`)}</ul>
      <div class="row"><button class="secondary" onClick=${onClose}>Cancel</button></div>
    <//>`;
}

const followed = new Set();
// A new connection follows nobody: follow again after each reconnect.
onOnline(() => {
  const ids = [...followed];
  if (ids.length) call('presence.subscribe', { user_ids: ids }).then(record, () => {});
});

function record(result) {
  for (const p of result.users) store.presence.set(p.user_id, { status: p.status, last_seen: p.last_seen });
  changed();
}

export function Presence({ userId }) {
  useEffect(() => {
    if (!userId || userId === store.me.user_id || followed.has(userId)) return;
    followed.add(userId);
    call('presence.subscribe', { user_ids: [userId] }).then(record, () => followed.delete(userId));
  }, [userId]);
  const p = store.presence.get(userId);
  if (!p) return null;
  const text = p.status === 'online' ? 'online'
    : p.status === 'offline' ? (p.last_seen ? `last seen ${time(p.last_seen)}` : 'offline')
      : `last seen ${p.status.replace('_', ' ')}`;
  return html`<span class="presence" data-status=${p.status}>${text}</span>`;
}
