// A page beside the conversation list (new chat, search, devices, people):
// its heading names the section, and the back button returns to the list.
import { html } from '../html.js';
import { navigate } from '../store.js';

export function Page({ id, title, children }) {
  return html`
    <section class="page" aria-labelledby=${id}>
      <header class="chat-head">
        <button class="link back" onClick=${() => navigate({ name: 'list' })} aria-label="Back to conversations">←</button>
        <h2 id=${id}>${title}</h2>
      </header>
      ${children}
    </section>`;
}
