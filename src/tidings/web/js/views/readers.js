// Who read one of my messages (read.readers, at most 50); large chats answer
// READERS_HIDDEN and show the count only.
import { html, useEffect, useState } from '../html.js';
import { call } from '../session.js';
import { loadUsers } from '../users.js';
import { time, userName } from '../format.js';
import { Modal } from './modal.js';

export function ReadersDialog({ message, view, onClose }) {
  const [readers, setReaders] = useState(null);
  const [hidden, setHidden] = useState(false);
  useEffect(() => {
    call('read.readers', { chat_id: message.chat_id, msg_id: message.msg_id, limit: 50 })
      .then(async (result) => {
        await loadUsers(result.readers.map((r) => r.user_id));
        setReaders(result.readers);
      }, (error) => {
        if (error.code === 'READERS_HIDDEN') setHidden(true);
        setReaders([]);
      });
  }, []);
  const count = view.readCounts.get(message.msg_id) ?? 0;
  return html`
    <${Modal} title=${`Read by ${count}`} onClose=${onClose}>
      ${hidden && html`<p>This group is large: it shows read counts only.</p>`}
      ${readers && !hidden && html`
        <ul class="readers">${readers.map((r) => html`
          <li key=${r.user_id}>${userName(r.user_id)} <span class="when">${time(r.read_at)}</span></li>`)}</ul>`}
      <div class="row"><button onClick=${onClose}>Close</button></div>
    <//>`;
}
