// Opening an invite link (#/join/TOKEN): what the group is, and a Join button.
import { html, useEffect, useState } from '../html.js';
import { call } from '../session.js';
import { loadDialogs } from '../chats.js';
import { navigate } from '../store.js';

export function JoinPage({ invite }) {
  const [info, setInfo] = useState(null);
  const [error, setError] = useState(null);
  const [message, setMessage] = useState('');
  useEffect(() => {
    call('chat.invite_info', { invite }).then(setInfo, (e) => setError(e.message));
  }, [invite]);

  async function join(e) {
    e.preventDefault();
    try {
      const result = await call('chat.join', { invite, ...(message ? { message } : {}) });
      if (result.status === 'requested') {
        setError('Your request to join was sent; an owner or admin will decide.');
        return;
      }
      await loadDialogs();
      navigate({ name: 'chat', chatId: result.chat_id });
    } catch (failure) {
      setError(failure.message);
    }
  }

  return html`
    <section class="page" aria-labelledby="join-title">
      <header class="chat-head"><h2 id="join-title">${info ? info.title : 'Invite'}</h2></header>
      <form class="settings" onSubmit=${join}>
        ${error && html`<p role="alert">${error}</p>`}
        ${info && html`
          <p>${info.about}</p>
          <p>${info.member_count} members${info.join_approval ? ' · an owner or admin approves who joins' : ''}</p>
          ${info.join_approval && html`<label>Message <input value=${message} onInput=${(e) => setMessage(e.target.value)} /></label>`}
          <button type="submit">${info.join_approval ? 'Ask to join' : 'Join'}</button>`}
      </form>
    </section>`;
}
