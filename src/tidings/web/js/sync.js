// Ordering, gap filling and catch-up (protocol §7), after the Python SDK's
// tidings/client/sync.py: a chat update applies only at local pts + 1, a gap
// is filled with sync.get_chat_difference, a seq gap with sync.get_difference,
// and a chat answered too_long is reloaded from message.history. Every entry
// point runs in one queue, network calls included, so a push is never
// applied in the middle of a catch-up.
import { store, chatView, changed } from './store.js';
import { applyChatUpdate, chatFromJoin, forgetFromUserUpdate } from './updates.js';

export const PAGE = 50;

export class Sync {
  constructor(call, { refreshDialogs, refetchMessages }) {
    this.call = call;
    this.refreshDialogs = refreshDialogs;
    this.refetchMessages = refetchMessages;
    this.seq = 0;
    this.initialized = false;
    this.queue = Promise.resolve();
  }

  run(task) {
    const result = this.queue.then(task);
    this.queue = result.catch(() => {});
    return result;
  }

  // First time: sync.get_state. Afterwards (a reconnect): replay differences.
  catchUp() {
    return this.run(() => (this.initialized ? this.difference() : this.loadState()));
  }

  handlePush(push) {
    return this.run(async () => {
      if (!this.initialized) return; // the coming get_state already holds it
      if (push.push === 'chat_updates') await this.applyChatUpdates(push.chat_id, push.updates || []);
      else if (push.push === 'user_updates') await this.applyUserUpdates(push.updates || []);
      changed();
    });
  }

  // Our own send's result: show it at once; its message.new moves the pts.
  recordSent(message) {
    return this.run(async () => {
      const view = store.chats.get(message.chat_id);
      if (!view || message.msg_id <= view.pts) return;
      if (message.msg_id === view.pts + 1) {
        this.applyOne(view, { pts: message.msg_id, kind: 'message.new', date: message.date, message });
      } else if (view.loaded && view.newest) {
        view.messages.set(message.msg_id, message);
        view.pending = view.pending.filter((p) => p.local_id !== message.local_id);
      }
      changed();
    });
  }

  // A mutation of ours answered with this pts: make the view reach it.
  ensurePts(chatId, pts) {
    return this.run(async () => {
      const view = store.chats.get(chatId);
      if (view && view.pts < pts) await this.fillGap(view);
      changed();
    });
  }

  async loadState() {
    const result = await this.call('sync.get_state', {});
    this.seq = result.seq;
    for (const [key, pts] of Object.entries(result.chats || {})) {
      const view = chatView(Number(key));
      view.pts = pts;
      view.left = false;
    }
    this.initialized = true;
    changed();
  }

  async difference() {
    for (;;) {
      const chats = {};
      for (const view of store.chats.values()) chats[String(view.chat_id)] = view.pts;
      const result = await this.call('sync.get_difference', { seq: this.seq, chats });
      for (const entry of result.chats || []) {
        await this.applyDifference(chatView(entry.chat_id), entry);
      }
      const before = this.seq;
      for (const u of result.user_updates || []) {
        if (u.seq > this.seq) await this.applyUserUpdate(u);
      }
      this.seq = Math.max(this.seq, result.seq);
      changed();
      if (!result.more || this.seq <= before) return;
    }
  }

  async applyChatUpdates(chatId, updates) {
    const view = store.chats.get(chatId);
    if (!view) return; // its chat.joined makes it known and fetches these
    for (const u of updates) {
      if (u.pts <= view.pts) continue;
      if (u.pts > view.pts + 1) {
        await this.fillGap(view);
        if (u.pts <= view.pts) continue;
        if (u.pts > view.pts + 1) return; // the next push or catch-up retries
      }
      this.applyOne(view, u);
    }
  }

  async fillGap(view) {
    const result = await this.call('sync.get_chat_difference', { chat_id: view.chat_id, pts: view.pts });
    await this.applyDifference(view, result);
  }

  async applyDifference(view, result) {
    const updates = result.updates || [];
    if (result.too_long) {
      await this.reload(view, updates, result.pts);
      return;
    }
    for (const u of updates) if (u.pts > view.pts) this.applyOne(view, u);
    if (result.pts > view.pts) view.pts = result.pts;
  }

  // Too far behind to replay: drop the window, take the newest page, then the
  // newest updates on top for what is not in messages, and jump to pts.
  async reload(view, updates, pts) {
    if (view.loaded) {
      const page = await this.call('message.history', { chat_id: view.chat_id, limit: PAGE });
      view.messages = new Map(page.messages.map((m) => [m.msg_id, m]));
      view.newest = true;
      view.hasOlder = page.messages.length === PAGE;
    }
    for (const u of updates) if (u.kind !== 'message.new') applyChatUpdate(view, u);
    view.pts = Math.max(pts, ...updates.map((u) => u.pts));
    this.refreshDialogs();
  }

  applyOne(view, u) {
    const after = applyChatUpdate(view, u);
    view.pts = u.pts;
    if (after.refreshDialogs) this.refreshDialogs();
    if (after.refetch?.length) this.refetchMessages(view.chat_id, after.refetch);
  }

  async applyUserUpdates(updates) {
    for (const u of updates) {
      if (u.seq <= this.seq) continue;
      if (u.seq > this.seq + 1) {
        await this.difference();
        if (u.seq <= this.seq) continue;
        if (u.seq > this.seq + 1) return;
      }
      await this.applyUserUpdate(u);
    }
  }

  async applyUserUpdate(u) {
    let fetch = null;
    const view = store.chats.get(u.chat_id);
    switch (u.kind) {
      case 'chat.joined':
        fetch = chatFromJoin(u);
        break;
      case 'chat.left':
        if (view && u.pts > view.pts && !view.left) await this.quietly(() => this.fillGap(view));
        if (view) view.left = true;
        break;
      case 'message.recalled':
      case 'message.deleted':
        if (view) applyChatUpdate(view, { ...u, kind: u.kind });
        break;
      case 'history.cleared':
        if (view && 'by' in u) applyChatUpdate(view, u);
        else forgetFromUserUpdate(u);
        break;
      case 'message.hidden':
        forgetFromUserUpdate(u);
        break;
      case 'read.updated':
        if (view) view.read_pts = Math.max(view.read_pts, u.read_pts);
        break;
      case 'user.updated':
        store.users.set(u.user.user_id, u.user);
        break;
      case 'chat.role':
        if (view) view.role = u.role;
        break;
      case 'chat.muted':
        if (view) view.mutedUntil = u.until;
        break;
      default:
        break;
    }
    this.seq = u.seq;
    if (u.kind !== 'user.updated') this.refreshDialogs();
    if (fetch) await this.quietly(() => this.fillGap(fetch));
    store.lastUserUpdate = u;
  }

  async quietly(task) {
    try {
      await task();
    } catch (error) {
      // Refused (no longer a member) or cut off: the next catch-up retries.
    }
  }
}
