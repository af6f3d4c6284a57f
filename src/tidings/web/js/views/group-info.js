// A group's or channel's info: its picture, name and description
// (group-about.js), the members (group-members.js:
// roles, mutes, removing, banning, handing ownership over), adding people,
// moderation (group-moderation.js), what plain members may do, invite links
// with a QR code generated here, and join requests to decide.
import { html, useEffect, useState } from '../html.js';
import { renderSVG } from '../../vendor/uqr.module.js';
import { call } from '../session.js';
import { loadMembers, mutate } from '../chats.js';
import { chatView, navigate, notify, store, useStore } from '../store.js';
import { loadUsers } from '../users.js';
import { userName } from '../format.js';
import { isAdmin, may } from '../permissions.js';
import { About } from './group-about.js';
import { Members } from './group-members.js';
import { useOptimistic } from './optimistic.js';
import { Bans, MuteAll } from './group-moderation.js';
const PERMISSIONS = {
  send_messages: 'Send messages', send_media: 'Send photos, videos and files',
  add_members: 'Add members', pin_messages: 'Pin messages', change_info: 'Change the group info',
  invite_users: 'Invite by link', mention_all: 'Mention everyone', view_history: 'See earlier history',
  export: 'Export the chat',
};

export function inviteLink(invite) {
  return `${location.origin}/#/join/${invite}`;
}

function Qr({ text }) {
  const svg = renderSVG(text, { pixelSize: 6 });
  return html`<img class="qr" alt=${`QR code of ${text}`} src=${`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`} />`;
}

function Invites({ chatId }) {
  const [invites, setInvites] = useState(null);
  const load = () => call('chat.invites', { chat_id: chatId }).then((r) => setInvites(r.invites),
    () => setInvites([]));
  useEffect(() => { load(); }, [chatId]);
  const create = () => call('chat.create_invite', { chat_id: chatId }).then(load, (e) => notify(e.message));
  const revoke = (invite) => call('chat.revoke_invite', { invite }).then(load, (e) => notify(e.message));
  return html`
    <section aria-labelledby="invites-title">
      <h3 id="invites-title">Invite links</h3>
      ${(invites || []).map((i) => html`
        <div class="invite" key=${i.invite}>
          <${Qr} text=${inviteLink(i.invite)} />
          <div>
            <input readonly aria-label="Invite link" value=${inviteLink(i.invite)}
                   onFocus=${(e) => e.target.select()} />
            <p class="hint">Used ${i.uses}${i.max_uses ? ` of ${i.max_uses}` : ''} times</p>
            <button class="link" onClick=${() => revoke(i.invite)}>Revoke</button>
          </div>
        </div>`)}
      <button class="secondary" onClick=${create}>Create an invite link</button>
    </section>`;
}

function Requests({ chatId }) {
  const [requests, setRequests] = useState([]);
  const load = () => call('chat.join_requests', { chat_id: chatId }).then(async (r) => {
    await loadUsers(r.requests.map((q) => q.user_id));
    setRequests(r.requests);
  }, () => setRequests([]));
  useEffect(() => { load(); }, [chatId, store.lastUserUpdate?.seq]);
  const decide = (method, userId) => mutate(method, { chat_id: chatId, user_id: userId })
    .then(() => { load(); loadMembers(chatId); }).catch(() => {});
  if (!requests.length) return null;
  return html`
    <section aria-labelledby="requests-title">
      <h3 id="requests-title">Join requests</h3>
      <ul>${requests.map((q) => html`<li key=${q.user_id}>${userName(q.user_id)}
        ${q.message && html` — “${q.message}”`}
        <button class="link" onClick=${() => decide('chat.approve', q.user_id)}>Approve</button>
        <button class="link" onClick=${() => decide('chat.reject', q.user_id)}>Reject</button></li>`)}</ul>
    </section>`;
}

// The checkboxes hold a change until the server answered it (optimistic.js).
function Permissions({ view, chatId, editable }) {
  const permissions = view.chat?.permissions || {};
  const { change, shown, busy } = useOptimistic((name, value) => mutate('chat.set_permissions',
    { chat_id: chatId, permissions: { [name]: value } }));
  return html`
    <fieldset class="permissions" disabled=${!editable} aria-busy=${busy}>
      <legend>What members may do</legend>
      ${busy && html`<p class="hint" role="status">Saving…</p>`}
      ${Object.entries(PERMISSIONS).map(([name, label]) => html`
        <label class="choice" key=${name}>
          <input type="checkbox" name=${name} checked=${shown(name, !!permissions[name])}
                 onChange=${(e) => change(name, e.target.checked)} />
          ${label}
        </label>`)}
    </fieldset>`;
}

export function GroupInfo({ chatId }) {
  useStore();
  const view = chatView(chatId);
  const [adding, setAdding] = useState('');
  // Read again when someone joins or leaves, or an update dropped the list (a role changed).
  useEffect(() => { loadMembers(chatId).catch((e) => notify(e.message)); },
    [chatId, view.chat?.member_count, !view.members]);
  const admin = isAdmin(view);
  const channel = view.chat?.kind === 'channel';
  async function add(e) {
    e.preventDefault();
    try {
      const ids = [];
      for (const username of adding.split(/[\s,]+/).filter(Boolean)) {
        ids.push((await call('user.resolve', { username: username.replace(/^@/, '') })).user.user_id);
      }
      await mutate('chat.add_members', { chat_id: chatId, user_ids: ids });
      setAdding('');
      await loadMembers(chatId);
    } catch (error) {
      notify(error.message);
    }
  }

  return html`
    <section class="page" aria-labelledby="info-title">
      <header class="chat-head">
        <button class="link back" onClick=${() => navigate({ name: 'chat', chatId })} aria-label="Back to the chat">←</button>
        <h2 id="info-title">${view.chat?.title || (channel ? 'Channel' : 'Group')} · ${view.chat?.member_count ?? ''} members</h2>
      </header>
      <div class="settings">
        <${About} view=${view} chatId=${chatId} />
        ${channel && html`<p class="hint">A channel: only the owner and admins post.</p>`}
        <h3>Members</h3>
        <${Members} view=${view} chatId=${chatId} />
        ${may(view, 'add_members') && html`
          <form class="row" onSubmit=${add}>
            <label>Add people <input value=${adding} onInput=${(e) => setAdding(e.target.value)}
                   placeholder="usernames" /></label>
            <button type="submit" disabled=${!adding.trim()}>Add</button>
          </form>`}
        ${admin && html`<${Requests} chatId=${chatId} />`}
        ${may(view, 'invite_users') && html`<${Invites} chatId=${chatId} />`}
        ${admin && html`
          <section aria-labelledby="moderation-title">
            <h3 id="moderation-title">Moderation</h3>
            ${!channel && html`<${MuteAll} view=${view} chatId=${chatId} />`}
            <${Bans} view=${view} chatId=${chatId} />
          </section>`}
        <${Permissions} view=${view} chatId=${chatId} editable=${admin} />
      </div>
    </section>`;
}
