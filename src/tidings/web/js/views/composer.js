// The composer: text (Enter sends, Shift+Enter breaks the line), a reply
// bar, @mention autocomplete from the chat's members, files with upload
// progress, and typing notices (at most one every 3 s, as the server throttles).
// Closed, with the reason, where the server would refuse a send: an expired
// chat (its banner says so), a channel's plain member, a muted member, a chat
// muted for everyone, a readonly member.
import { html, useEffect, useRef, useState } from '../html.js';
import { call } from '../session.js';
import { send } from '../chats.js';
import { changed, notify, store } from '../store.js';
import { upload, kindOf } from '../files.js';
import { userName } from '../format.js';
import { may, postingRefusal } from '../permissions.js';

function codePoints(text) {
  return [...text].length;
}

// Mentions chosen from the list become entities, if their @name is still there.
function entitiesFor(text, chosen) {
  const entities = [];
  for (const { username, user_id } of chosen) {
    const at = text.indexOf(`@${username}`);
    if (at >= 0) {
      entities.push({ type: 'mention', offset: codePoints(text.slice(0, at)),
        length: codePoints(username) + 1, user_id });
    }
  }
  return entities;
}

function candidates(view, text, caret) {
  const match = /(^|\s)@([\p{L}\p{N}_.]*)$/u.exec(text.slice(0, caret));
  if (!match || !view.members) return null;
  const prefix = match[2].toLowerCase();
  const users = view.members.map((m) => store.users.get(m.user_id))
    .filter((u) => u && u.user_id !== store.me.user_id)
    .filter((u) => u.username.startsWith(prefix) || (u.display_name || '').toLowerCase().startsWith(prefix));
  return users.length ? { users: users.slice(0, 8), start: caret - match[2].length - 1 } : null;
}

export function Composer({ view, replyTo, onCancelReply }) {
  const [text, setText] = useState('');
  const [suggest, setSuggest] = useState(null);
  const [selected, setSelected] = useState(0);
  const chosen = useRef([]);
  const lastTyping = useRef(0);
  const input = useRef(null);
  const fileInput = useRef(null);
  const expired = view.chat?.expire_at && view.chat.expire_at <= Date.now() / 1000;
  const [, setTick] = useState(0);
  useEffect(() => {
    // A moderator's mute ends on its own: show the composer again then.
    const left = (view.mutedUntil || 0) * 1000 - Date.now();
    if (left <= 0) return undefined;
    const timer = setTimeout(() => setTick((t) => t + 1), Math.min(left + 500, 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [view.mutedUntil]);

  function typing() {
    const now = Date.now();
    if (now - lastTyping.current < 3000) return;
    lastTyping.current = now;
    call('typing.send', { chat_id: view.chat_id }).catch(() => {});
  }

  function onInput(e) {
    setText(e.target.value);
    setSuggest(candidates(view, e.target.value, e.target.selectionStart));
    setSelected(0);
    typing();
  }

  function pick(user) {
    const caret = input.current.selectionStart;
    const next = `${text.slice(0, suggest.start)}@${user.username} ${text.slice(caret)}`;
    chosen.current.push({ username: user.username, user_id: user.user_id });
    setText(next);
    setSuggest(null);
    input.current.focus();
  }

  async function submit() {
    const body = text.trim();
    if (!body) return;
    const params = { text: body };
    const entities = entitiesFor(body, chosen.current);
    if (entities.length) params.entities = entities;
    if (replyTo) params.reply_to = replyTo.msg_id;
    setText('');
    chosen.current = [];
    onCancelReply();
    lastTyping.current = 0;
    await send(view.chat_id, params);
  }

  function onKeyDown(e) {
    if (suggest) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setSelected((selected + step + suggest.users.length) % suggest.users.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        pick(suggest.users[selected]);
        return;
      }
      if (e.key === 'Escape') {
        setSuggest(null);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  async function attach(e) {
    const files = [...e.target.files];
    e.target.value = '';
    for (const file of files) {
      const kind = kindOf(file);
      const item = { local_id: null, params: {}, state: 'sending', name: file.name, progress: 0 };
      view.pending.push(item);
      changed();
      call('typing.send', { chat_id: view.chat_id, action: 'uploading' }).catch(() => {});
      try {
        const stored = await upload(file, kind, (p) => { item.progress = p; changed(); });
        view.pending = view.pending.filter((p) => p !== item);
        await send(view.chat_id, { kind, file_id: stored.file_id });
      } catch (error) {
        view.pending = view.pending.filter((p) => p !== item);
        notify(error.message);
      }
    }
  }

  const refusal = expired ? 'This chat expired: nothing more can be sent.' : postingRefusal(view);
  if (refusal) {
    return html`
      <div class="composer disabled">
        <textarea aria-label="Message" disabled placeholder=${refusal}></textarea>
      </div>`;
  }
  const media = view.chat?.kind === 'direct' || !view.role || may(view, 'send_media');
  return html`
    <form class="composer" onSubmit=${(e) => { e.preventDefault(); submit(); }}>
      ${replyTo && html`
        <div class="reply-bar">
          <span>Replying to <strong>${userName(replyTo.sender_id)}</strong>: ${replyTo.text || replyTo.kind}</span>
          <button type="button" class="link" onClick=${onCancelReply} aria-label="Cancel reply">✕</button>
        </div>`}
      ${suggest && html`
        <ul class="suggest" role="listbox" id="mention-list" aria-label="Mention a member">
          ${suggest.users.map((u, i) => html`
            <li role="option" key=${u.user_id} aria-selected=${i === selected}
                onMouseDown=${(e) => { e.preventDefault(); pick(u); }}>@${u.username}
              ${u.display_name && html` <span class="muted-text">${u.display_name}</span>`}</li>`)}
        </ul>`}
      <div class="compose-row">
        ${media && html`
        <button type="button" class="secondary attach" aria-label="Attach files"
                onClick=${() => fileInput.current.click()}>📎</button>
        <input ref=${fileInput} type="file" multiple hidden onChange=${attach} aria-label="Files to send" />`}
        <textarea ref=${input} aria-label="Message" rows="1" placeholder="Write a message…"
                  value=${text} onInput=${onInput} onKeyDown=${onKeyDown}
                  aria-autocomplete="list" aria-controls=${suggest ? 'mention-list' : undefined}></textarea>
        <button type="submit" disabled=${!text.trim()}>Send</button>
      </div>
    </form>`;
}
