// Entry point: wire the sync engine to the views and start.
import { html, render } from './html.js';
import { store, changed, routeFromHash } from './store.js';
import { configure, onOnline, onPush, resume } from './session.js';
import { loadDialogs, refreshDialogs, refetchMessages, resendPending } from './chats.js';
import { onReadPush } from './receipts.js';
import { App } from './views/app.js';

configure({ refreshDialogs, refetchMessages: (chatId, ids) => refetchMessages(chatId, ids).catch(() => {}) });

onOnline(async () => {
  await loadDialogs();
  resendPending();
});

onPush((push) => {
  if (push.push === 'typing') {
    const view = store.chats.get(push.chat_id);
    if (!view) return;
    if (push.action === 'cancel') view.typing.delete(push.user_id);
    else view.typing.set(push.user_id, { action: push.action, until: Date.now() / 1000 + push.expires_in });
    changed();
    setTimeout(changed, push.expires_in * 1000 + 50);
  } else if (push.push === 'presence') {
    store.presence.set(push.user_id, { status: push.status, last_seen: push.last_seen });
    changed();
  } else if (push.push === 'read') {
    onReadPush(push);
  }
});

window.addEventListener('popstate', () => {
  store.route = routeFromHash();
  changed();
});
document.addEventListener('visibilitychange', changed);

store.route = routeFromHash();
const root = document.getElementById('app');
root.textContent = ''; // the boot line
render(html`<${App} />`, root);
resume();

