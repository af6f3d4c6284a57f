// A group's or channel's picture, name and description, changed by whoever
// the chat's change_info permission allows (owners and admins always).
import { html, useEffect, useRef, useState } from '../html.js';
import { mutate } from '../chats.js';
import { notify } from '../store.js';
import { may } from '../permissions.js';
import { Avatar, usePictureUpload } from './avatar.js';

function Picture({ view, chatId }) {
  const chat = view.chat || {};
  const editable = may(view, 'change_info');
  const [progress, choose] = usePictureUpload(
    (fileId) => mutate('chat.update', { chat_id: chatId, avatar_file_id: fileId }));
  return html`
    <div class="picture">
      <${Avatar} fileId=${chat.avatar_file_id} name=${chat.title} seed=${chatId} size="large" />
      ${editable && html`
        <div>
          <label class="secondary-label">Change the picture
            <input type="file" accept="image/*" onChange=${choose} /></label>
          ${progress !== null && html`<progress value=${progress} max="1" aria-label="Uploading the picture"></progress>`}
          ${chat.avatar_file_id && html`<button class="link" onClick=${() => mutate('chat.update',
            { chat_id: chatId, avatar_file_id: null }).catch(() => {})}>Remove the picture</button>`}
        </div>`}
    </div>`;
}

function Texts({ view, chatId }) {
  const chat = view.chat || {};
  const [title, setTitle] = useState(chat.title || '');
  const [about, setAbout] = useState(chat.about || '');
  const edited = useRef(false);
  useEffect(() => {
    // An update from someone else shows here unless typing began.
    if (edited.current) return;
    setTitle(chat.title || '');
    setAbout(chat.about || '');
  }, [chat.title, chat.about]);
  async function save(e) {
    e.preventDefault();
    const params = { chat_id: chatId };
    if (title.trim() !== chat.title) params.title = title.trim();
    if (about !== chat.about) params.about = about;
    try {
      await mutate('chat.update', params);
      edited.current = false;
      notify('Saved.', 'info');
    } catch {
      // mutate showed the server's refusal
    }
  }
  const edit = (set) => (e) => { edited.current = true; set(e.target.value); };
  return html`
    <form class="about-form" onSubmit=${save}>
      <label for="chat-title-input">Name</label>
      <input id="chat-title-input" required maxlength="128" value=${title} onInput=${edit(setTitle)} />
      <label for="chat-about-input">Description</label>
      <textarea id="chat-about-input" value=${about} onInput=${edit(setAbout)}></textarea>
      <button type="submit" disabled=${!title.trim()}>Save</button>
    </form>`;
}

export function About({ view, chatId }) {
  const chat = view.chat || {};
  return html`
    <${Picture} view=${view} chatId=${chatId} />
    ${may(view, 'change_info') ? html`<${Texts} view=${view} chatId=${chatId} />`
      : chat.about && html`<p>${chat.about}</p>`}`;
}
