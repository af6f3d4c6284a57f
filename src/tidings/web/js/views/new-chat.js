// Start a direct chat by username, or create a group or a channel (where
// only the owner and admins post) with some members.
import { html, useState } from '../html.js';
import { call } from '../session.js';
import { loadDialogs } from '../chats.js';
import { navigate } from '../store.js';
import { Page } from './page.js';

async function resolveAll(text) {
  const names = text.split(/[\s,]+/).map((n) => n.replace(/^@/, '')).filter(Boolean);
  const users = [];
  for (const username of names) users.push((await call('user.resolve', { username })).user);
  return users;
}

export function NewChat() {
  const [username, setUsername] = useState('');
  const [title, setTitle] = useState('');
  const [members, setMembers] = useState('');
  const [kind, setKind] = useState('group');
  const [error, setError] = useState(null);

  async function direct(e) {
    e.preventDefault();
    setError(null);
    try {
      const [user] = await resolveAll(username);
      const { chat } = await call('chat.direct', { user_id: user.user_id });
      await loadDialogs();
      navigate({ name: 'chat', chatId: chat.chat_id });
    } catch (failure) {
      setError(failure.message);
    }
  }

  async function group(e) {
    e.preventDefault();
    setError(null);
    try {
      const users = await resolveAll(members);
      const { chat } = await call('chat.create', { kind, title: title.trim(),
        member_ids: users.map((u) => u.user_id) });
      await loadDialogs();
      navigate({ name: 'chat', chatId: chat.chat_id });
    } catch (failure) {
      setError(failure.message);
    }
  }

  return html`
    <${Page} id="new-title" title="New chat">
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <form class="settings" onSubmit=${direct}>
        <fieldset>
          <legend>Message someone</legend>
          <label for="new-direct">Username</label>
          <input id="new-direct" required value=${username} onInput=${(e) => setUsername(e.target.value)} />
          <button type="submit">Start chat</button>
        </fieldset>
      </form>
      <form class="settings" onSubmit=${group}>
        <fieldset>
          <legend>New group or channel</legend>
          <div class="row" role="radiogroup" aria-label="Kind">
            <label class="choice"><input type="radio" name="new-kind" value="group" checked=${kind === 'group'}
                   onChange=${() => setKind('group')} /> Group: everyone posts</label>
            <label class="choice"><input type="radio" name="new-kind" value="channel" checked=${kind === 'channel'}
                   onChange=${() => setKind('channel')} /> Channel: only admins post</label>
          </div>
          <label for="new-title-input">${kind === 'channel' ? 'Channel name' : 'Group name'}</label>
          <input id="new-title-input" required maxlength="128" value=${title} onInput=${(e) => setTitle(e.target.value)} />
          <label for="new-members">Members (usernames, separated by spaces)</label>
          <input id="new-members" value=${members} onInput=${(e) => setMembers(e.target.value)} />
          <button type="submit">${kind === 'channel' ? 'Create channel' : 'Create group'}</button>
        </fieldset>
      </form>
    </${Page}>`;
}
