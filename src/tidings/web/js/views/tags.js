// Message tags (protocol §5 message.set_attributes, message.list_tags): the
// chips under a message, the editor its sender or an owner/admin opens from
// the message's actions, and the chat's tags to filter by.
import { html, useState } from '../html.js';
import { store } from '../store.js';
import { mutate } from '../chats.js';

export function mayTag(message, view) {
  if (message.kind === 'system' || message.recalled_at) return false;
  return message.sender_id === store.me.user_id || view.role === 'owner' || view.role === 'admin';
}

export function TagChips({ tags, onPick }) {
  if (!tags || !tags.length) return null;
  return html`<ul class="tags" aria-label="Tags">${tags.map((tag) => html`<li key=${tag}>
    ${onPick ? html`<button class="tag" onClick=${() => onPick(tag)}>#${tag}</button>`
      : html`<span class="tag">#${tag}</span>`}</li>`)}</ul>`;
}

export function TagEditor({ message, onClose }) {
  const [text, setText] = useState('');
  // While a tag is saved the field is read-only (it keeps focus): a tag typed
  // meanwhile would be cleared with the saved one, or added to the list as it
  // was before the save.
  const [saving, setSaving] = useState(false);
  const tags = message.tags || [];
  const set = (next) => mutate('message.set_attributes',
    { chat_id: message.chat_id, msg_id: message.msg_id, tags: next }).then(() => true, () => false);
  async function add(e) {
    e.preventDefault();
    const tag = text.trim();
    if (!tag || saving) return;
    setSaving(true);
    try {
      if (await set([...tags, tag])) setText('');
    } finally {
      setSaving(false);
    }
  }
  return html`
    <div class="tag-editor">
      <ul class="tags">${tags.map((tag) => html`<li key=${tag}>
        <span class="tag">#${tag}
          <button class="link" onClick=${() => set(tags.filter((t) => t !== tag))}
                  aria-label=${`Remove tag ${tag}`}>×</button></span></li>`)}</ul>
      <form class="row" onSubmit=${add}>
        <input aria-label="Add a tag" value=${text} maxlength="32" readOnly=${saving}
               onInput=${(e) => setText(e.target.value)} />
        <button type="submit" class="secondary" disabled=${saving || !text.trim() || tags.length >= 10}>Add</button>
        <button type="button" class="link" onClick=${onClose}>Done</button>
      </form>
    </div>`;
}
