// Files over HTTP (protocol §12): uploads with progress (XMLHttpRequest, since
// fetch reports none), and downloads fetched with the device token and shown
// through blob: URLs (an <img src> cannot carry an Authorization header).
import { RpcError } from './api.js';
import { token } from './session.js';

export function kindOf(file) {
  const type = file.type || '';
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return 'file';
}

export function upload(file, kind, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const query = new URLSearchParams({ kind, name: file.name || 'file' });
    xhr.open('POST', `/files?${query}`);
    xhr.setRequestHeader('Authorization', `Bearer ${token()}`);
    if (file.type) xhr.setRequestHeader('Content-Type', file.type);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201 && body) resolve(body.file);
      else {
        const error = body?.error || { code: 'UPLOAD_FAILED', message: `upload failed (${xhr.status})` };
        reject(new RpcError(error.code, error.message, error.data));
      }
    };
    xhr.onerror = () => reject(new RpcError('DISCONNECTED', 'the upload was interrupted'));
    xhr.send(file);
  });
}

const urls = new Map(); // "id:thumb:sha" -> Promise<blob url>

export function blobUrl(file, thumbnail) {
  const key = `${file.file_id}:${thumbnail ? 't' : 'f'}:${file.status}`;
  if (!urls.has(key)) {
    const path = `/files/${file.file_id}${thumbnail ? '/thumbnail' : ''}`;
    const pending = fetch(path, { headers: { Authorization: `Bearer ${token()}` } })
      .then(async (response) => {
        if (!response.ok) throw new RpcError(`HTTP_${response.status}`, `download failed (${response.status})`);
        return URL.createObjectURL(await response.blob());
      });
    pending.catch(() => urls.delete(key));
    urls.set(key, pending);
  }
  return urls.get(key);
}

export async function download(file) {
  const url = await blobUrl(file, false);
  const link = document.createElement('a');
  link.href = url;
  link.download = file.name || `file-${file.file_id}`;
  document.body.append(link);
  link.click();
  link.remove();
}
