// The renew dialog (pool remaining, file size, the new expiry date) and the
// custody dialog (quota remaining), each reading the real numbers first.
import { html, useEffect, useState } from '../html.js';
import { call } from '../session.js';
import { mutate, refetchMessages } from '../chats.js';
import { notify } from '../store.js';
import { bytes, day } from '../format.js';
import { Modal } from './modal.js';

const DAY = 86400;

function Facts({ rows }) {
  return html`<dl class="facts">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

export function RenewDialog({ message, onClose }) {
  const file = message.file;
  const [pool, setPool] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call('pool.get', { chat_id: message.chat_id }).then(setPool, (e) => notify(e.message));
  }, []);
  const now = Math.floor(Date.now() / 1000);
  const newExpiry = Math.max(now, file.expires_at || now) + 30 * DAY;
  const fits = pool && pool.free >= file.size;
  async function renew() {
    setBusy(true);
    try {
      await mutate('media.renew', { chat_id: message.chat_id, msg_id: message.msg_id, days: 30, source: 'pool' });
      await refetchMessages(message.chat_id, [message.msg_id]);
      onClose();
    } catch {
      setBusy(false);
    }
  }
  return html`
    <${Modal} title="Renew for 30 days from the group pool" onClose=${onClose}>
      ${pool ? html`<${Facts} rows=${[
        ['Pool remaining', `${bytes(pool.free)} of ${bytes(pool.capacity)}`],
        ['File size', bytes(file.size)],
        ['New expiry date', day(newExpiry)],
      ]} />` : html`<p>Reading the pool…</p>`}
      ${pool && !fits && html`<p class="error" role="alert">The pool has no room for this file.</p>`}
      <div class="row">
        <button onClick=${renew} disabled=${!fits || busy}>Renew 30 days</button>
        <button class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    <//>`;
}

export function CustodyDialog({ message, onClose }) {
  const file = message.file;
  const [quota, setQuota] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call('quota.get', { limit: 1 }).then(setQuota, (e) => notify(e.message));
  }, []);
  const unlimited = quota && quota.quota == null;
  const fits = quota && (unlimited || quota.free >= file.size);
  async function preserve() {
    setBusy(true);
    try {
      await mutate('media.preserve', { chat_id: message.chat_id, msg_id: message.msg_id });
      await refetchMessages(message.chat_id, [message.msg_id]);
      onClose();
    } catch {
      setBusy(false);
    }
  }
  return html`
    <${Modal} title="Move to my custody" onClose=${onClose}>
      <p>The file stops expiring and counts against your own storage.</p>
      ${quota ? html`<${Facts} rows=${[
        ['Your space remaining', unlimited ? 'unlimited' : `${bytes(quota.free)} of ${bytes(quota.quota)}`],
        ['File size', bytes(file.size)],
      ]} />` : html`<p>Reading your quota…</p>`}
      ${quota && !fits && html`<p class="error" role="alert">Your custody space is full.</p>`}
      <div class="row">
        <button onClick=${preserve} disabled=${!fits || busy}>Move to my custody</button>
        <button class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    <//>`;
}

export function RequestRenewal({ message, onClose }) {
  async function ask() {
    try {
      await mutate('media.request_renewal', { chat_id: message.chat_id, msg_id: message.msg_id });
      notify('Asked the owners and admins to keep it.', 'info');
      onClose();
    } catch {
      /* shown by mutate */
    }
  }
  return html`
    <${Modal} title="Ask to keep this file" onClose=${onClose}>
      <p>The chat's owners and admins will see your request.</p>
      <div class="row">
        <button onClick=${ask}>Ask to keep it</button>
        <button class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    <//>`;
}
