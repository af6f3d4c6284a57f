// A person's or a chat's picture: the thumbnail the server serves for its
// avatar_file_id (GET /files/{id}/thumbnail, fetched with the token, shown
// through a blob: URL), or the initials on a colour of its own when there is
// none or it cannot be fetched.
import { html, useEffect, useState } from '../html.js';
import { blobUrl, upload } from '../files.js';
import { notify } from '../store.js';

const COLOURS = 8;

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[1]] : [words[0] || '?'];
  return letters.map((w) => [...w][0]).join('').toUpperCase();
}

export function Avatar({ fileId, name, seed = 0, size = 'small' }) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    setUrl(null);
    if (!fileId) return undefined;
    let live = true;
    blobUrl({ file_id: fileId, status: 'active' }, true)
      .then((u) => { if (live) setUrl(u); }, () => {});
    return () => { live = false; };
  }, [fileId]);
  const cls = `avatar ${size}`;
  if (url) return html`<img class=${cls} src=${url} alt="" data-avatar-file=${fileId} />`;
  return html`<span class=${`${cls} initials av-${Math.abs(seed) % COLOURS}`} aria-hidden="true">${initials(name)}</span>`;
}

// A picture chosen in a file input: uploaded as an image with its progress
// (null while idle), then handed to `use(fileId)`; a failure is shown unless
// the connection dropped (the reconnect says so itself).
export function usePictureUpload(use) {
  const [progress, setProgress] = useState(null);
  async function choose(e) {
    const [file] = e.target.files;
    e.target.value = '';
    if (!file) return;
    try {
      setProgress(0);
      const stored = await upload(file, 'image', setProgress);
      await use(stored.file_id);
    } catch (error) {
      if (error.code !== 'DISCONNECTED') notify(error.message);
    } finally {
      setProgress(null);
    }
  }
  return [progress, choose];
}
