// People: my profile, contacts and contact requests, the block list and
// privacy settings. Each list is read from the server and read again when a
// user update says it changed (on this or another device).
import { html, useEffect, useRef, useState } from '../html.js';
import { call } from '../session.js';
import { loadDialogs } from '../chats.js';
import { changed, navigate, notify, store, useStore } from '../store.js';
import { loadUsers } from '../users.js';
import { day, userName } from '../format.js';
import { Avatar, usePictureUpload } from './avatar.js';
import { Page } from './page.js';

const PRIVACY = {
  find_me: ['Who can find me by username', ['everyone', 'contacts', 'nobody']],
  message_me: ['Who can message me', ['everyone', 'contacts']],
  add_me: ['Who can add me to groups', ['everyone', 'contacts']],
  last_seen: ['Who sees when I was last online', ['everyone', 'contacts', 'nobody']],
};

function useReload(load, kinds) {
  const last = store.lastUserUpdate;
  const relevant = last && kinds.some((k) => last.kind.startsWith(k)) ? last.seq : 0;
  useEffect(() => { load().catch((e) => notify(e.message)); }, [relevant]);
}

async function resolve(username) {
  return (await call('user.resolve', { username: username.trim().replace(/^@/, '') })).user;
}

// My picture: an image uploaded as any file is, then set with user.update_profile.
function MyPicture({ me }) {
  async function set(fileId) {
    const { user } = await call('user.update_profile', { avatar_file_id: fileId });
    store.users.set(user.user_id, user);
    changed();
  }
  const [progress, choose] = usePictureUpload(async (fileId) => {
    await set(fileId);
    notify('Picture saved.', 'info');
  });
  return html`
    <div class="picture">
      <${Avatar} fileId=${me?.avatar_file_id} name=${me?.display_name || me?.username} seed=${store.me.user_id} size="large" />
      <div>
        <label>My picture <input type="file" accept="image/*" onChange=${choose} /></label>
        ${progress !== null && html`<progress value=${progress} max="1" aria-label="Uploading the picture"></progress>`}
        ${me?.avatar_file_id && html`<button type="button" class="link"
          onClick=${() => set(0).catch((error) => notify(error.message))}>Remove my picture</button>`}
      </div>
    </div>`;
}

function Profile() {
  const me = store.users.get(store.me.user_id);
  const [name, setName] = useState(me?.display_name || '');
  const [bio, setBio] = useState(me?.bio || '');
  const edited = useRef(false);
  useEffect(() => {
    // The profile may arrive after the page opened: fill it in unless typing began.
    if (edited.current) return;
    setName(me?.display_name || '');
    setBio(me?.bio || '');
  }, [me?.display_name, me?.bio]);
  async function save(e) {
    e.preventDefault();
    try {
      const { user } = await call('user.update_profile', { display_name: name, bio });
      store.users.set(user.user_id, user);
      notify('Profile saved.', 'info');
    } catch (error) {
      notify(error.message);
    }
  }
  return html`
    <form class="settings" onSubmit=${save}>
      <fieldset>
        <legend>My profile${me ? ` (@${me.username})` : ''}</legend>
        <${MyPicture} me=${me} />
        <label for="profile-name">Display name</label>
        <input id="profile-name" maxlength="64" value=${name} onInput=${(e) => { edited.current = true; setName(e.target.value); }} />
        <label for="profile-bio">About me</label>
        <textarea id="profile-bio" maxlength="300" value=${bio} onInput=${(e) => { edited.current = true; setBio(e.target.value); }}></textarea>
        <button type="submit">Save profile</button>
      </fieldset>
    </form>`;
}

function Contacts() {
  const [contacts, setContacts] = useState([]);
  const [pending, setPending] = useState({ incoming: [], outgoing: [] });
  const [name, setName] = useState('');
  async function load() {
    const [list, waiting] = await Promise.all([call('contact.list'), call('contact.pending')]);
    await loadUsers([...list.contacts, ...waiting.incoming, ...waiting.outgoing].map((c) => c.user_id));
    setContacts(list.contacts);
    setPending(waiting);
  }
  useReload(load, ['contact.']);
  const act = (method, params) => call(method, params).then(load, (e) => notify(e.message));
  async function add(e) {
    e.preventDefault();
    try {
      const user = await resolve(name);
      await call('contact.request', { user_id: user.user_id, source: 'search' });
      setName('');
      await load();
    } catch (error) {
      notify(error.message);
    }
  }
  async function message(userId) {
    const { chat } = await call('chat.direct', { user_id: userId });
    await loadDialogs();
    navigate({ name: 'chat', chatId: chat.chat_id });
  }
  return html`
    <section class="settings" aria-labelledby="contacts-title">
      <h3 id="contacts-title">Contacts</h3>
      ${pending.incoming.length > 0 && html`
        <h4>Requests to me</h4>
        <ul class="members">${pending.incoming.map((r) => html`<li class="member" key=${r.user_id}>
          <span class="name">${userName(r.user_id)}${r.message && html` — “${r.message}”`}</span>
          <button class="link" onClick=${() => act('contact.accept', { user_id: r.user_id })}>Accept</button>
          <button class="link" onClick=${() => act('contact.reject', { user_id: r.user_id })}>Decline</button></li>`)}</ul>`}
      ${pending.outgoing.length > 0 && html`
        <h4>My requests</h4>
        <ul class="members">${pending.outgoing.map((r) => html`<li class="member" key=${r.user_id}>
          <span class="name">${userName(r.user_id)}</span> <span class="role">waiting</span>
          <button class="link" onClick=${() => act('contact.remove', { user_id: r.user_id })}>Withdraw</button></li>`)}</ul>`}
      ${contacts.length === 0 ? html`<p class="hint">No contacts yet.</p>` : html`
        <ul class="members">${contacts.map((c) => html`<li class="member" key=${c.user_id}>
          <span class="name">${userName(c.user_id)}</span> <span class="role">since ${day(c.since)}</span>
          <button class="link" onClick=${() => message(c.user_id)}>Message</button>
          <button class="link" onClick=${() => act('contact.remove', { user_id: c.user_id })}>Remove</button></li>`)}</ul>`}
      <form class="row" onSubmit=${add}>
        <label>Add a contact <input value=${name} placeholder="username" onInput=${(e) => setName(e.target.value)} /></label>
        <button type="submit" disabled=${!name.trim()}>Send request</button>
      </form>
    </section>`;
}

function Blocked() {
  const [blocked, setBlocked] = useState([]);
  const [name, setName] = useState('');
  async function load() {
    const result = await call('block.list');
    await loadUsers(result.blocked.map((b) => b.user_id));
    setBlocked(result.blocked);
  }
  useReload(load, ['block.']);
  async function block(e) {
    e.preventDefault();
    try {
      const user = await resolve(name);
      await call('block.add', { user_id: user.user_id });
      setName('');
      await load();
    } catch (error) {
      notify(error.message);
    }
  }
  return html`
    <section class="settings" aria-labelledby="blocked-title">
      <h3 id="blocked-title">Blocked people</h3>
      ${blocked.length === 0 ? html`<p class="hint">You block nobody.</p>` : html`
        <ul class="members">${blocked.map((b) => html`<li class="member" key=${b.user_id}>
          <span class="name">${userName(b.user_id)}</span>
          <button class="link" onClick=${() => call('block.remove', { user_id: b.user_id }).then(load)}>Unblock</button></li>`)}</ul>`}
      <form class="row" onSubmit=${block}>
        <label>Block someone <input value=${name} placeholder="username" onInput=${(e) => setName(e.target.value)} /></label>
        <button type="submit" disabled=${!name.trim()}>Block</button>
      </form>
    </section>`;
}

function Privacy() {
  const [settings, setSettings] = useState(null);
  // Changes made here since a read was asked for: a read answered after one
  // (the update of an earlier change) would put the old value back under the
  // user's hand, so it is dropped; the change's own answer is the newer state.
  const edits = useRef(0);
  const read = () => {
    const asked = edits.current;
    return call('privacy.get').then((s) => { if (edits.current === asked) setSettings(s); });
  };
  useReload(read, ['privacy.']);
  const change = (params) => {
    edits.current += 1;
    setSettings((s) => ({ ...s, ...params }));  // the control shows the choice at once
    return call('privacy.update', params).then((result) => {
      setSettings(result);
      const [key, value] = Object.entries(params)[0];
      const what = key === 'read_receipts' ? `read receipts ${value ? 'on' : 'off'}`
        : `${PRIVACY[key][0].toLowerCase()}: ${value}`;
      notify(`Saved: ${what}.`, 'info');
    }, (e) => {
      notify(e.message);
      edits.current += 1;
      read();  // refused: show what the server holds
    });
  };
  if (!settings) return null;
  return html`
    <form class="settings" onSubmit=${(e) => e.preventDefault()}>
      <fieldset>
        <legend>Privacy</legend>
        ${Object.entries(PRIVACY).map(([key, [label, values]]) => html`
          <label key=${key}>${label}
            <select value=${settings[key]} onChange=${(e) => change({ [key]: e.target.value })}>
              ${values.map((v) => html`<option value=${v}>${v}</option>`)}
            </select>
          </label>`)}
        <label class="choice">
          <input type="checkbox" checked=${settings.read_receipts}
                 onChange=${(e) => change({ read_receipts: e.target.checked })} />
          Share when I read messages (read receipts)
        </label>
      </fieldset>
    </form>`;
}

export function PeoplePage() {
  useStore();
  useEffect(() => { loadUsers([store.me.user_id]).catch(() => {}); }, []);
  return html`
    <${Page} id="people-title" title="People and privacy">
      <${Profile} />
      <${Contacts} />
      <${Blocked} />
      <${Privacy} />
    </${Page}>`;
}
