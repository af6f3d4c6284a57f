// Moderation for owners and admins: muting everyone (only owners and admins
// post while it is on), the ban list with unban, and banning someone who is
// not a member (yet) by username.
import { html, useEffect, useState } from '../html.js';
import { call } from '../session.js';
import { mutate } from '../chats.js';
import { notify } from '../store.js';
import { loadUsers } from '../users.js';
import { day, userName } from '../format.js';
import { useOptimistic } from './optimistic.js';

export function MuteAll({ view, chatId }) {
  const { change, shown } = useOptimistic((key, on) => mutate('chat.mute_all', { chat_id: chatId, on }));
  return html`
    <label class="choice">
      <input type="checkbox" checked=${shown('mute_all', !!view.chat?.mute_all)}
             onChange=${(e) => change('mute_all', e.target.checked)} />
      Mute everyone: only the owner and admins post
    </label>`;
}

export function Bans({ view, chatId }) {
  const [bans, setBans] = useState([]);
  const load = () => call('chat.bans', { chat_id: chatId }).then(async (r) => {
    await loadUsers(r.bans.flatMap((b) => [b.user_id, b.by]).filter(Boolean));
    setBans(r.bans);
  }, (e) => notify(e.message));
  useEffect(() => { load(); }, [chatId, view.bansSeen]);
  const unban = (userId) => mutate('chat.unban', { chat_id: chatId, user_id: userId })
    .then(load).catch(() => {});
  const [name, setName] = useState('');
  async function ban(e) {
    e.preventDefault();
    let user;
    try {
      ({ user } = await call('user.resolve', { username: name.trim().replace(/^@/, '') }));
    } catch (error) {
      notify(error.message);
      return;
    }
    try {
      await mutate('chat.ban', { chat_id: chatId, user_id: user.user_id });
      setName('');
      await load();
    } catch {
      // mutate showed the server's refusal
    }
  }
  return html`
    <section aria-labelledby="bans-title">
      <h3 id="bans-title">Banned</h3>
      ${bans.length === 0 ? html`<p class="hint">Nobody is banned.</p>` : html`
        <ul class="members bans">${bans.map((b) => html`<li class="member" key=${b.user_id}>
          <span class="name">${userName(b.user_id)}</span>
          <span class="role">by ${userName(b.by)} on ${day(b.date)}</span>
          <button class="link" aria-label=${`Unban ${userName(b.user_id)}`} onClick=${() => unban(b.user_id)}>Unban</button></li>`)}</ul>`}
      <form class="row" onSubmit=${ban}>
        <label>Ban someone <input value=${name} placeholder="username" onInput=${(e) => setName(e.target.value)} /></label>
        <button type="submit" class="secondary" disabled=${!name.trim()}>Ban</button>
      </form>
    </section>`;
}
