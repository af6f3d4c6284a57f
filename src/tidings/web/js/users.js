// Names of the people a view shows, fetched once with user.get.
import { call } from './session.js';
import { store, changed } from './store.js';

const asked = new Set();

export async function loadUsers(ids) {
  const missing = [...new Set(ids)].filter((id) => id > 0 && !store.users.has(id) && !asked.has(id));
  if (!missing.length) return;
  missing.forEach((id) => asked.add(id));
  for (let i = 0; i < missing.length; i += 200) {
    const result = await call('user.get', { user_ids: missing.slice(i, i + 200) });
    for (const user of result.users) store.users.set(user.user_id, user);
  }
  changed();
}

export function userName(id) {
  if (!id) return 'tidings';
  const user = store.users.get(id);
  if (!user) return `user ${id}`;
  return user.display_name || user.username;
}

export function handle(id) {
  const user = store.users.get(id);
  return user ? `@${user.username}` : `user ${id}`;
}
