// The chat storage pool (seed 000): capacity, what uses it by kind, its
// sponsors, and a button to sponsor more; owners and admins switch it on.
import { html, useEffect, useState } from '../html.js';
import { call } from '../session.js';
import { loadMembers, mutate } from '../chats.js';
import { chatView, navigate, notify, useStore } from '../store.js';
import { bytes, userName, KIND_NAME } from '../format.js';
import { loadUsers } from '../users.js';

const GB = 1024 ** 3;

// Members ask to keep an expiring file; owners and admins decide here.
function RenewalRequests({ chatId, onDecided }) {
  const [requests, setRequests] = useState([]);
  const load = () => call('media.renewal_requests', { chat_id: chatId }).then(async (r) => {
    await loadUsers(r.requests.map((q) => q.user_id));
    setRequests(r.requests);
  }, () => setRequests([]));
  useEffect(() => { load(); }, [chatId, chatView(chatId).pts]);
  const decide = (method, id) => mutate(method, { chat_id: chatId, request_id: id })
    .then(() => { load(); onDecided(); }).catch(() => {});
  if (!requests.length) return null;
  return html`
    <h3>Requests to keep files</h3>
    <ul class="members">${requests.map((q) => html`<li class="member" key=${q.request_id}>
      <span class="name">${userName(q.user_id)} asks to keep a file (message ${q.msg_id})</span>
      <button class="link" onClick=${() => decide('media.approve_renewal', q.request_id)}>Renew 30 days</button>
      <button class="link" onClick=${() => decide('media.reject_renewal', q.request_id)}>Decline</button>
    </li>`)}</ul>`;
}

export function PoolPage({ chatId }) {
  useStore();
  const view = chatView(chatId);
  const [pool, setPool] = useState(null);
  const [amount, setAmount] = useState('1');

  async function reload() {
    const result = await call('pool.get', { chat_id: chatId });
    await loadUsers(result.sponsors.map((s) => s.user_id));
    setPool(result);
  }
  useEffect(() => {
    loadMembers(chatId).catch(() => {});
    reload().catch((e) => notify(e.message));
  }, [chatId, view.pool?.capacity, view.pool?.used, view.pool?.enabled]);

  const admin = view.role === 'owner' || view.role === 'admin';
  async function run(method, extra) {
    try {
      const result = await mutate(method, { chat_id: chatId, ...extra });
      await loadUsers((result.sponsors || []).map((s) => s.user_id));
      setPool(result);
    } catch {
      /* shown by mutate */
    }
  }
  const gb = Math.round(Number(amount) * GB);

  return html`
    <section class="page" aria-labelledby="pool-title">
      <header class="chat-head">
        <button class="link back" onClick=${() => navigate({ name: 'chat', chatId })} aria-label="Back to the chat">←</button>
        <h2 id="pool-title">Chat storage pool</h2>
      </header>
      ${!pool ? html`<p>Loading…</p>` : html`
        <div class="pool">
          <p>${pool.enabled ? 'The pool is on: owners and admins renew expiring media from it.' : 'The pool is off.'}</p>
          <dl class="facts">
            <dt>Capacity</dt><dd>${bytes(pool.capacity)}</dd>
            <dt>Used</dt><dd>${bytes(pool.used)} (${pool.files} files)</dd>
            <dt>Free</dt><dd>${bytes(pool.free)}</dd>
          </dl>
          <meter min="0" max=${pool.capacity || 1} value=${pool.used} aria-label="Pool used"></meter>
          <h3>Used by kind</h3>
          ${Object.keys(pool.by_kind).length === 0 ? html`<p class="hint">Nothing is kept in the pool yet.</p>` : html`
            <ul>${Object.entries(pool.by_kind).map(([kind, v]) => html`
              <li key=${kind}>${KIND_NAME[kind] || kind}: ${v.count} · ${bytes(v.bytes)}</li>`)}</ul>`}
          <h3>Sponsors</h3>
          ${pool.sponsors.length === 0 ? html`<p class="hint">No sponsors yet.</p>` : html`
            <ul>${pool.sponsors.map((s) => html`<li key=${s.user_id}>${userName(s.user_id)} · ${bytes(s.bytes)}</li>`)}</ul>`}
          ${pool.enabled && html`
            <form class="row" onSubmit=${(e) => { e.preventDefault(); run('pool.sponsor', { bytes: gb }); }}>
              <label>GB to add <input type="number" min="0.001" step="any" value=${amount}
                     onInput=${(e) => setAmount(e.target.value)} /></label>
              <button type="submit" disabled=${!(gb > 0)}>Sponsor</button>
            </form>`}
          ${admin && html`<${RenewalRequests} chatId=${chatId} onDecided=${() => reload().catch(() => {})} />`}
          ${admin && html`
            <div class="row">
              ${pool.enabled
                ? html`<button class="secondary" onClick=${() => run('pool.disable', {})}>Turn the pool off</button>`
                : html`<button onClick=${() => run('pool.enable', { capacity_bytes: 5 * GB })}>Turn the pool on (5 GB)</button>`}
            </div>`}
        </div>`}
    </section>`;
}
