// A chat: header (title, members, who is typing), the expired banner, the
// timeline (pages older and newer as you scroll, keeping your place; a reply
// jumps to its original) and the composer.
import { html, useEffect, useLayoutEffect, useRef, useState } from '../html.js';
import { store, chatView, navigate, notify } from '../store.js';
import { loadAround, loadNewer, loadOlder, markRead, openChat } from '../chats.js';
import { loadReadCounts } from '../receipts.js';
import { day, userName } from '../format.js';
import { chatAvatar, chatTitle } from './chat-list.js';
import { MessageItem, PendingItem } from './message.js';
import { Composer } from './composer.js';
import { PinnedBar, Presence, SearchPanel } from './chat-tools.js';

const EDGE = 150; // px from an end of the timeline that loads the next page

function Typing({ view }) {
  const now = Date.now() / 1000;
  const who = [...view.typing.entries()].filter(([, t]) => t.until > now);
  if (!who.length) return null;
  const names = who.map(([id]) => userName(id)).join(', ');
  const uploading = who.some(([, t]) => t.action === 'uploading');
  return html`<span class="typing" aria-live="polite">${names} ${uploading ? 'is sending a file…' : 'is typing…'}</span>`;
}

function Header({ view, onSearch }) {
  const row = store.dialogs.get(view.chat_id) || { chat: view.chat || {}, peer_id: null };
  const chat = view.chat || row.chat;
  const group = chat.kind !== 'direct';
  return html`
    <header class="chat-head">
      <button class="link back" onClick=${() => navigate({ name: 'list' })} aria-label="Back to conversations">←</button>
      ${chatAvatar({ ...row, chat })}
      <div class="chat-head-title">
        <h2>${chatTitle({ ...row, chat })}</h2>
        <span class="subtitle">${group ? `${chat.member_count} members` : html`<${Presence} userId=${row.peer_id} />`} <${Typing} view=${view} /></span>
      </div>
      <button class="link" onClick=${onSearch}>Search</button>
      <button class="link" onClick=${() => navigate({ name: 'settings', chatId: view.chat_id })}>Settings</button>
      ${group && html`<button class="link" onClick=${() => navigate({ name: 'info', chatId: view.chat_id })}>${chat.kind === 'channel' ? 'Channel info' : 'Group info'}</button>`}
      ${group && html`<button class="link" onClick=${() => navigate({ name: 'pool', chatId: view.chat_id })}>Storage pool</button>`}
    </header>`;
}

function expiredBanner(view) {
  const at = view.chat?.expire_at;
  if (!at || at > Date.now() / 1000) return null;
  return html`<div class="banner" role="status">This chat expired on ${day(at)}. Its history stays readable; nothing more can be sent.</div>`;
}

export function ChatView({ chatId }) {
  const view = chatView(chatId);
  const list = useRef(null);
  const atBottom = useRef(true);
  const keep = useRef(null);
  const target = useRef(null);
  const [replyTo, setReplyTo] = useState(null);
  const [highlight, setHighlight] = useState(null);
  const [ready, setReady] = useState(view.loaded);
  const [searching, setSearching] = useState(false);

  useEffect(() => {
    atBottom.current = true;
    setReplyTo(null);
    setReady(view.loaded);
    openChat(chatId).then(() => {
      setReady(true);
      // Opened from a search result: show that message.
      const wanted = store.jumpTo;
      if (wanted?.chatId === chatId) {
        store.jumpTo = null;
        jump(wanted.msgId);
      }
    }, (e) => notify(e.message));
  }, [chatId]);

  const messages = [...view.messages.values()].sort((a, b) => a.msg_id - b.msg_id);
  const last = messages.length ? messages[messages.length - 1].msg_id : 0;

  useEffect(() => {
    if (ready) loadReadCounts(view);
  }, [ready, last, chatId]);

  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    if (target.current) {
      // A jump: the window now holds the message; bring it to the middle.
      const found = document.getElementById(`msg-${chatId}-${target.current}`);
      if (found) {
        target.current = null;
        atBottom.current = false;
        found.scrollIntoView({ block: 'center' });
        found.focus({ preventScroll: true });
      }
      return;
    }
    if (keep.current) {
      // Older messages were put above: stay on the message that was in view.
      el.scrollTop = el.scrollHeight - keep.current.height + keep.current.top;
      keep.current = null;
    } else if (atBottom.current && view.newest) {
      el.scrollTop = el.scrollHeight;
    }
    if (view.newest && atBottom.current) markRead(view);
  });

  async function onScroll() {
    const el = list.current;
    if (target.current) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < EDGE && view.hasOlder && !view.loadingOlder && view.loaded) {
      keep.current = { height: el.scrollHeight, top: el.scrollTop };
      const got = await loadOlder(view);
      if (!got) keep.current = null;
    } else if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE && !view.newest) {
      await loadNewer(view);
    }
  }

  async function jump(msgId) {
    target.current = msgId;
    const found = await loadAround(view, msgId).catch(() => false);
    if (!found) {
      target.current = null;
      notify('The original message is no longer available.', 'info');
      return;
    }
    setHighlight(msgId);
    setTimeout(() => setHighlight(null), 2000);
  }

  return html`
    <section class="chat" aria-label="Conversation">
      <${Header} view=${view} onSearch=${() => setSearching(!searching)} />
      ${searching && html`<${SearchPanel} view=${view} onJump=${jump} onClose=${() => setSearching(false)} />`}
      <${PinnedBar} view=${view} onJump=${jump} />
      ${expiredBanner(view)}
      <ol class="timeline" ref=${list} onScroll=${onScroll} aria-label="Messages" aria-busy=${!ready}>
        ${view.loaded && !view.hasOlder && html`<li class="system start">The beginning of this conversation</li>`}
        ${messages.map((m) => html`<${MessageItem} key=${m.msg_id} message=${m} view=${view}
            onReply=${setReplyTo} onJump=${jump} highlighted=${highlight === m.msg_id} />`)}
        ${view.newest && view.pending.map((p, i) => html`<${PendingItem} key=${`p${i}`} item=${p} />`)}
      </ol>
      ${!view.newest && view.loaded && html`
        <button class="to-newest" onClick=${async () => { atBottom.current = true; await loadNewer(view); }}>
          Newer messages ↓</button>`}
      <${Composer} view=${view} replyTo=${replyTo} onCancelReply=${() => setReplyTo(null)} />
    </section>`;
}
