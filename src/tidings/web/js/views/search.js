// Search across all my chats (protocol §5 message.search without chat_id):
// results newest first, grouped by chat, the matched words marked; a result
// opens its chat at that message. "More results" asks for the next page.
import { html, useState } from '../html.js';
import { call } from '../session.js';
import { store, navigate, notify } from '../store.js';
import { day, time, userName } from '../format.js';
import { loadUsers } from '../users.js';
import { chatTitle } from './chat-list.js';
import { Page } from './page.js';

// The text with the server's matches ([offset, length] in code points) marked.
export function Marked({ text, matches }) {
  const points = [...(text || '')];
  const parts = [];
  let at = 0;
  for (const [offset, length] of matches || []) {
    parts.push(points.slice(at, offset).join(''));
    parts.push(html`<mark>${points.slice(offset, offset + length).join('')}</mark>`);
    at = offset + length;
  }
  parts.push(points.slice(at).join(''));
  return html`<span class="found-text">${parts}</span>`;
}

function titleOf(chatId) {
  const row = store.dialogs.get(chatId);
  return row ? chatTitle(row) : `Chat ${chatId}`;
}

// Consecutive results of one chat under one heading, in the server's order.
function grouped(results) {
  const groups = [];
  for (const r of results) {
    const last = groups[groups.length - 1];
    if (last && last.chatId === r.message.chat_id) last.items.push(r);
    else groups.push({ chatId: r.message.chat_id, items: [r] });
  }
  return groups;
}

export function openAt(chatId, msgId) {
  store.jumpTo = { chatId, msgId };
  navigate({ name: 'chat', chatId });
}

export function SearchPage() {
  const [query, setQuery] = useState('');
  const [results, setResults] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [asked, setAsked] = useState('');

  async function run(q, after) {
    try {
      const params = { query: q, limit: 50 };
      if (after) params.cursor = after;
      const page = await call('message.search', params);
      await loadUsers(page.results.map((r) => r.message.sender_id));
      setResults([...(after ? results : []), ...page.results]);
      setCursor(page.next_cursor);
      setAsked(q);
    } catch (error) {
      notify(error.message);
    }
  }

  const q = query.trim();
  return html`
    <${Page} id="search-title" title="Search all chats">
      <div class="settings">
        <form class="row" role="search" onSubmit=${(e) => { e.preventDefault(); run(q, null); }}>
          <input type="search" aria-label="Search all chats" value=${query} minlength="2"
                 onInput=${(e) => setQuery(e.target.value)} />
          <button type="submit" disabled=${q.length < 2}>Search</button>
        </form>
        ${results && results.length === 0 && html`<p class="hint">Nothing found for “${asked}”.</p>`}
        ${results && grouped(results).map((g, i) => html`
          <section class="result-group" key=${`${g.chatId}:${i}`} aria-label=${`In ${titleOf(g.chatId)}`}>
            <h3>${titleOf(g.chatId)}</h3>
            <ul class="search-results">${g.items.map((r) => html`<li key=${r.message.msg_id}>
              <button class="link" onClick=${() => openAt(g.chatId, r.message.msg_id)}>
                <span class="hint">${day(r.message.date)} ${time(r.message.date)} · ${userName(r.message.sender_id)}</span>
                <${Marked} text=${r.message.text} matches=${r.matches} /></button></li>`)}</ul>
          </section>`)}
        ${cursor && html`<button class="secondary" onClick=${() => run(asked, cursor)}>More results</button>`}
      </div>
    </${Page}>`;
}
