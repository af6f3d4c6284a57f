// A group's member list with what this viewer may do to each member: change
// their role, mute them for a while or lift the mute, remove (kick) or ban
// them (owners and admins, on members below their rank), and hand ownership
// over (the owner, after a confirmation).
import { html, useState } from '../html.js';
import { loadMembers, mutate } from '../chats.js';
import { store } from '../store.js';
import { userName } from '../format.js';
import { mayActOn, RANK, rankOf } from '../permissions.js';
import { Avatar } from './avatar.js';
import { Modal } from './modal.js';

const ROLES = ['admin', 'member', 'restricted', 'readonly'];
export const MUTE_FOR = [[3600, 'for 1 hour'], [8 * 3600, 'for 8 hours'], [86400, 'for 1 day'],
  [7 * 86400, 'for 7 days'], [30 * 86400, 'for 30 days']];

function until(unix) {
  return new Date(unix * 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function TransferDialog({ chatId, userId, onClose }) {
  const [busy, setBusy] = useState(false);
  async function transfer() {
    setBusy(true);
    try {
      await mutate('chat.transfer_owner', { chat_id: chatId, user_id: userId });
      await loadMembers(chatId);
      onClose();
    } catch {
      setBusy(false); // the server's refusal is on screen (mutate notifies)
    }
  }
  return html`
    <${Modal} title="Transfer ownership" onClose=${onClose}>
      <p>Make <strong>${userName(userId)}</strong> the owner of this chat? You become an admin,
        and only the new owner can give ownership back.</p>
      <div class="row">
        <button onClick=${transfer} disabled=${busy}>Transfer ownership</button>
        <button class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    </${Modal}>`;
}

function MemberActions({ view, member, chatId, onTransfer }) {
  const name = userName(member.user_id);
  const act = (method, params) => mutate(method, { chat_id: chatId, user_id: member.user_id, ...params })
    .then(() => loadMembers(chatId)).catch(() => {});
  const muted = member.muted_until > Date.now() / 1000;
  const owner = rankOf(view) === RANK.owner;
  return html`
    <select aria-label=${`Role of ${name}`} value=${member.role}
            onChange=${(e) => act('chat.set_role', { role: e.target.value })}>
      ${ROLES.filter((r) => owner || r !== 'admin' || member.role === 'admin')
        .map((r) => html`<option value=${r}>${r}</option>`)}
    </select>
    ${muted
      ? html`<button class="link" aria-label=${`Unmute ${name}`} onClick=${() => act('chat.mute_member', { until: 0 })}>Unmute</button>`
      : html`<select aria-label=${`Mute ${name}`} value=""
                 onChange=${(e) => e.target.value && act('chat.mute_member',
                   { until: Math.floor(Date.now() / 1000) + Number(e.target.value) })}>
          <option value="">Mute…</option>
          ${MUTE_FOR.map(([seconds, label]) => html`<option value=${seconds}>${label}</option>`)}
        </select>`}
    <button class="link" aria-label=${`Remove ${name}`} onClick=${() => act('chat.remove_member', {})}>Remove</button>
    <button class="link danger" aria-label=${`Ban ${name}`} onClick=${() => act('chat.ban', {})}>Ban</button>
    ${owner && html`<button class="link" aria-label=${`Make owner: ${name}`} onClick=${() => onTransfer(member.user_id)}>Make owner</button>`}`;
}

export function Members({ view, chatId }) {
  const [transferTo, setTransferTo] = useState(null);
  const me = store.me.user_id;
  const now = Date.now() / 1000;
  return html`
    <ul class="members">${(view.members || []).map((m) => {
      const user = store.users.get(m.user_id);
      const mayAct = mayActOn(view, m, me);
      return html`<li key=${m.user_id} class="member" data-user-id=${m.user_id}>
        <${Avatar} fileId=${user?.avatar_file_id} name=${userName(m.user_id)} seed=${m.user_id} />
        <span class="name">${userName(m.user_id)}
          ${m.muted_until > now && html` <span class="muted-badge">muted until ${until(m.muted_until)}</span>`}</span>
        ${mayAct ? html`<${MemberActions} view=${view} member=${m} chatId=${chatId} onTransfer=${setTransferTo} />`
          : html`<span class="role">${m.role}</span>`}
      </li>`;
    })}</ul>
    ${transferTo && html`<${TransferDialog} chatId=${chatId} userId=${transferTo} onClose=${() => setTransferTo(null)} />`}`;
}
