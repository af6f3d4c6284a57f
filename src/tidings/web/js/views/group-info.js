// A group's members with their roles (owners and admins change them or
// remove members), adding people, what plain members may do, invite links
// with a QR code generated here, and join requests to decide.
import { html, useEffect, useState } from '../html.js';
import { renderSVG } from '../../vendor/uqr.module.js';
import { call } from '../session.js';
import { loadMembers, mutate } from '../chats.js';
import { chatView, navigate, notify, store, useStore } from '../store.js';
import { loadUsers } from '../users.js';
import { userName } from '../format.js';

const ROLES = ['admin', 'member', 'restricted', 'readonly'];
const PERMISSIONS = {
  send_messages: 'Send messages', send_media: 'Send photos, videos and files',
  add_members: 'Add members', pin_messages: 'Pin messages', change_info: 'Change the group info',
  invite_users: 'Invite by link', mention_all: 'Mention everyone', view_history: 'See earlier history',
  export: 'Export the chat',
};
const RANK = { owner: 4, admin: 3, member: 2, restricted: 1, readonly: 0 };

export function inviteLink(invite) {
  return `${location.origin}/#/join/${invite}`;
}

function Qr({ text }) {
  const svg = renderSVG(text, { pixelSize: 6 });
  return html`<img class="qr" alt=${`QR code of ${text}`} src=${`data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`} />`;
}

function Members({ view, myRank, chatId }) {
  const members = view.members || [];
  const setRole = (userId, role) => mutate('chat.set_role', { chat_id: chatId, user_id: userId, role })
    .then(() => loadMembers(chatId)).catch(() => {});
  const remove = (userId) => mutate('chat.remove_member', { chat_id: chatId, user_id: userId })
    .then(() => loadMembers(chatId)).catch(() => {});
  return html`
    <ul class="members">${members.map((m) => {
      const mayAct = m.user_id !== store.me.user_id && myRank >= 3 && myRank > RANK[m.role];
      return html`<li key=${m.user_id} class="member">
        <span class="name">${userName(m.user_id)}</span>
        ${mayAct ? html`
          <select aria-label=${`Role of ${userName(m.user_id)}`} value=${m.role}
                  onChange=${(e) => setRole(m.user_id, e.target.value)}>
            ${ROLES.filter((r) => myRank === 4 || r !== 'admin' || m.role === 'admin')
              .map((r) => html`<option value=${r}>${r}</option>`)}
          </select>
          <button class="link" onClick=${() => remove(m.user_id)}>Remove</button>`
          : html`<span class="role">${m.role}</span>`}
      </li>`;
    })}</ul>`;
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

function Permissions({ view, chatId, editable }) {
  const permissions = view.chat?.permissions || {};
  const toggle = (name, value) => mutate('chat.set_permissions', { chat_id: chatId, permissions: { [name]: value } })
    .catch(() => {});
  return html`
    <fieldset class="permissions" disabled=${!editable}>
      <legend>What members may do</legend>
      ${Object.entries(PERMISSIONS).map(([name, label]) => html`
        <label class="choice" key=${name}>
          <input type="checkbox" checked=${!!permissions[name]} onChange=${(e) => toggle(name, e.target.checked)} />
          ${label}
        </label>`)}
    </fieldset>`;
}

export function GroupInfo({ chatId }) {
  useStore();
  const view = chatView(chatId);
  const [adding, setAdding] = useState('');
  useEffect(() => { loadMembers(chatId).catch((e) => notify(e.message)); }, [chatId, view.chat?.member_count]);
  const myRank = RANK[view.role] ?? -1;
  const admin = myRank >= 3;
  const canInvite = admin || (view.chat?.permissions?.invite_users && myRank >= 2);

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
        <h2 id="info-title">${view.chat?.title || 'Group'} · ${view.chat?.member_count ?? ''} members</h2>
      </header>
      <div class="settings">
        ${view.chat?.about && html`<p>${view.chat.about}</p>`}
        <h3>Members</h3>
        <${Members} view=${view} myRank=${myRank} chatId=${chatId} />
        <form class="row" onSubmit=${add}>
          <label>Add people <input value=${adding} onInput=${(e) => setAdding(e.target.value)}
                 placeholder="usernames" /></label>
          <button type="submit" disabled=${!adding.trim()}>Add</button>
        </form>
        ${admin && html`<${Requests} chatId=${chatId} />`}
        ${canInvite && html`<${Invites} chatId=${chatId} />`}
        <${Permissions} view=${view} chatId=${chatId} editable=${admin} />
      </div>
    </section>`;
}
