// Chat settings (seed 000): "Message retention" — how long this chat keeps
// photos, videos and files (text and the conversation's structure are always
// kept; only media lifetimes change); "Auto-delete" — how long messages sent
// from now on live (chat.set_message_ttl); exporting the history; and this
// conversation's pin and mute.
import { html, useEffect, useState } from '../html.js';
import { useOptimistic } from './optimistic.js';
import { call } from '../session.js';
import { loadDialogs, loadMembers, mutate } from '../chats.js';
import { chatView, navigate, notify, store, useStore } from '../store.js';
import { retentionText } from '../format.js';
import { ExportPanel } from './export.js';

const DAY = 86400;
const CHOICES = [
  { value: 'forever', label: 'Forever', note: 'recommended' },
  { value: String(DAY), label: '1 day' },
  { value: String(7 * DAY), label: '7 days' },
  { value: String(30 * DAY), label: '30 days' },
  { value: String(90 * DAY), label: '90 days' },
  { value: 'custom', label: 'Custom' },
];

function choiceOf(seconds) {
  if (!seconds) return 'forever';
  return CHOICES.some((c) => c.value === String(seconds)) ? String(seconds) : 'custom';
}

// The presets chat.set_message_ttl always accepts; a custom value set by
// another client shows as itself.
const TTL_CHOICES = [
  { value: null, label: 'Off' },
  { value: DAY, label: '1 day' },
  { value: 7 * DAY, label: '1 week' },
  { value: 30 * DAY, label: '1 month' },
];

function AutoDelete({ view, mayChange }) {
  useStore();
  const current = view.chat?.message_ttl ?? null;
  const choices = TTL_CHOICES.some((c) => c.value === current) ? TTL_CHOICES
    : [...TTL_CHOICES, { value: current, label: `After ${retentionText(current)}` }];
  // The choice shows at once and holds until the server answered it
  // (optimistic.js): a re-render before the answer must not undo the click.
  const { change, shown } = useOptimistic(async (_, seconds) => {
    if (seconds === (view.chat?.message_ttl ?? null)) return;
    await mutate('chat.set_message_ttl', { chat_id: view.chat_id, seconds });
    view.chat = { ...view.chat, message_ttl: seconds };
  });
  const selected = shown('ttl', current);
  return html`
    <fieldset disabled=${!mayChange || !view.chat}>
      <legend>Auto-delete messages</legend>
      <p class="hint">Messages sent from now on are deleted for everyone this long after they are sent. Earlier messages keep their own deadline.</p>
      ${choices.map((c) => html`
        <label class="choice" key=${String(c.value)}>
          <input type="radio" name="auto-delete" checked=${selected === c.value}
                 onChange=${() => change('ttl', c.value)} />
          ${c.label}
        </label>`)}
    </fieldset>`;
}

function DialogOptions({ chatId }) {
  useStore();
  const row = store.dialogs.get(chatId);
  if (!row) return null;
  const muted = row.muted_until > Date.now() / 1000;
  const run = (method, params) => call(method, { chat_id: chatId, ...params })
    .then(() => loadDialogs(), (e) => notify(e.message));
  return html`
    <fieldset class="row">
      <legend>This conversation, for me</legend>
      ${row.pinned
        ? html`<button type="button" class="secondary" onClick=${() => run('dialog.unpin')}>Unpin from the top</button>`
        : html`<button type="button" class="secondary" onClick=${() => run('dialog.pin')}>Pin to the top</button>`}
      ${muted
        ? html`<button type="button" class="secondary" onClick=${() => run('dialog.mute', { until: 0 })}>Unmute</button>`
        : html`<button type="button" class="secondary" onClick=${() => run('dialog.mute', {})}>Mute</button>`}
    </fieldset>`;
}

export function ChatSettings({ chatId }) {
  const view = chatView(chatId);
  const [policy, setPolicy] = useState(null);
  const [choice, setChoice] = useState('forever');
  const [customDays, setCustomDays] = useState('14');
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    loadMembers(chatId).catch(() => {});
    call('chat.storage_policy', { chat_id: chatId }).then((p) => {
      setPolicy(p);
      setChoice(choiceOf(p.media_ttl_seconds));
      if (choiceOf(p.media_ttl_seconds) === 'custom') setCustomDays(String(p.media_ttl_seconds / DAY));
    }, (e) => notify(e.message));
  }, [chatId]);

  const direct = view.chat?.kind === 'direct';
  const mayChange = direct || view.role === 'owner' || view.role === 'admin';

  async function save(e) {
    e.preventDefault();
    let seconds = null;
    if (choice === 'custom') seconds = Math.round(Number(customDays) * DAY);
    else if (choice !== 'forever') seconds = Number(choice);
    setSaving(true);
    try {
      await mutate('chat.set_storage_policy', { chat_id: chatId, media_ttl_seconds: seconds });
      setPolicy({ ...policy, media_ttl_seconds: seconds });
      notify(`Message retention is now ${retentionText(seconds)}.`, 'info');
    } catch {
      /* shown by mutate */
    } finally {
      setSaving(false);
    }
  }

  return html`
    <section class="page" aria-labelledby="settings-title">
      <header class="chat-head">
        <button class="link back" onClick=${() => navigate({ name: 'chat', chatId })} aria-label="Back to the chat">←</button>
        <h2 id="settings-title">Chat settings</h2>
      </header>
      <form class="settings" onSubmit=${save}>
        <fieldset disabled=${!mayChange || !policy || saving}>
          <legend>Message retention</legend>
          <p class="hint">Text and conversation structure are always kept. This only sets how long photos, videos and files stay.</p>
          ${CHOICES.map((c) => html`
            <label class="choice" key=${c.value}>
              <input type="radio" name="retention" value=${c.value} checked=${choice === c.value}
                     onChange=${() => setChoice(c.value)} />
              ${c.label}${c.note && html` <span class="recommended">— ${c.note}</span>`}
            </label>`)}
          ${choice === 'custom' && html`
            <label class="custom">Days
              <input type="number" min="0.05" step="any" value=${customDays}
                     onInput=${(e) => setCustomDays(e.target.value)} aria-label="Custom retention in days" />
            </label>`}
          <button type="submit">Save</button>
        </fieldset>
        ${!mayChange && html`<p class="hint">Only the group's owner and admins change this.</p>`}
        ${policy?.cleanup === false && html`<p class="hint">This chat keeps its media: nothing expires.</p>`}
      </form>
      <div class="settings"><${AutoDelete} view=${view} mayChange=${mayChange} /></div>
      ${(mayChange || view.chat?.permissions?.export) && html`<div class="settings"><${ExportPanel} chatId=${chatId} /></div>`}
      <div class="settings"><${DialogOptions} chatId=${chatId} /></div>
    </section>`;
}
