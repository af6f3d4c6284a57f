// The layout: the conversation list beside the open screen (one at a time on
// a phone), the connection state, and notices.
import { html, useEffect } from '../html.js';
import { store, useStore, navigate } from '../store.js';
import { signOut } from '../session.js';
import { AuthView } from './auth.js';
import { ChatList } from './chat-list.js';
import { ChatView } from './chat-view.js';
import { ChatSettings } from './chat-settings.js';
import { PoolPage } from './pool.js';
import { NewChat } from './new-chat.js';
import { GroupInfo } from './group-info.js';
import { JoinPage } from './join.js';
import { PeoplePage } from './people.js';
import { DevicesPage } from './devices.js';
import { SearchPage } from './search.js';

const STATUS = { connecting: 'Connecting…', offline: 'Offline — reconnecting…', online: 'Online' };

function Notice() {
  const notice = store.notice;
  useEffect(() => {
    if (!notice) return undefined;
    const timer = setTimeout(() => { if (store.notice === notice) { store.notice = null; navigate(store.route); } }, 5000);
    return () => clearTimeout(timer);
  }, [notice]);
  if (!notice) return null;
  return html`<div class=${`notice ${notice.kind}`} role=${notice.kind === 'error' ? 'alert' : 'status'}>${notice.text}</div>`;
}

function Screen({ route }) {
  switch (route.name) {
    case 'chat': return html`<${ChatView} chatId=${route.chatId} />`;
    case 'settings': return html`<${ChatSettings} chatId=${route.chatId} />`;
    case 'pool': return html`<${PoolPage} chatId=${route.chatId} />`;
    case 'new': return html`<${NewChat} />`;
    case 'people': return html`<${PeoplePage} />`;
    case 'info': return html`<${GroupInfo} chatId=${route.chatId} />`;
    case 'devices': return html`<${DevicesPage} />`;
    case 'search': return html`<${SearchPage} />`;
    case 'join': return html`<${JoinPage} invite=${route.invite} />`;
    default: return html`<section class="placeholder"><p>Choose a conversation.</p></section>`;
  }
}

export function App() {
  useStore();
  if (!store.me) return html`<${AuthView} /><${Notice} />`;
  const route = store.route;
  return html`
    <div class=${`layout ${route.name === 'list' ? 'show-list' : 'show-screen'}`}>
      <aside class="sidebar">
        <div class="status-bar">
          <span class=${`status ${store.status}`} role="status" data-status=${store.status}>${STATUS[store.status] || ''}</span>
          <span class="row">
            <button class="link" onClick=${() => navigate({ name: 'search' })}>Search all chats</button>
            <button class="link" onClick=${() => navigate({ name: 'devices' })}>Devices</button>
            <button class="link" onClick=${signOut}>Sign out</button>
          </span>
        </div>
        <${ChatList} />
      </aside>
      <main class="screen"><${Screen} key=${`${route.name}:${route.chatId}`} route=${route} /></main>
    </div>
    <${Notice} />`;
}
