// Media inline (seed 000): images as thumbnails, video, audio and files as
// cards; an expired or deleted file as the placeholder card with the actions
// the server lists for this viewer; an "expires soon" hint.
import { html, useEffect, useState } from '../html.js';
import { blobUrl, download } from '../files.js';
import { KIND_ICON, KIND_NAME, bytes, day, handle } from '../format.js';
import { RenewDialog, CustodyDialog, RequestRenewal } from './media-dialogs.js';

function useBlob(file, thumbnail, wanted = true) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    if (!wanted) return undefined;
    let live = true;
    blobUrl(file, thumbnail).then((u) => live && setUrl(u), () => live && setUrl(null));
    return () => { live = false; };
  }, [file.file_id, file.status, thumbnail, wanted]);
  return url;
}

function Image({ file }) {
  const [full, setFull] = useState(false);
  const thumb = useBlob(file, file.thumbnail);
  const big = useBlob(file, false, full);
  return html`
    <button class="media-image" onClick=${() => setFull(!full)}
            aria-label=${`${full ? 'Shrink' : 'Enlarge'} image ${file.name}`}>
      ${thumb ? html`<img src=${full && big ? big : thumb} alt=${file.name}
                          width=${file.width || undefined} height=${file.height || undefined} />`
              : html`<span class="media-loading">Loading ${file.name}…</span>`}
    </button>`;
}

function Playable({ file }) {
  const [play, setPlay] = useState(false);
  const url = useBlob(file, false, play);
  if (play && url) {
    return file.kind === 'video'
      ? html`<video class="media-video" controls autoplay src=${url} aria-label=${file.name}></video>`
      : html`<audio controls autoplay src=${url} aria-label=${file.name}></audio>`;
  }
  return html`<${FileCard} file=${file} label="Play" onOpen=${() => setPlay(true)} />`;
}

function FileCard({ file, label = 'Download', onOpen }) {
  return html`
    <div class="file-card">
      <span class="file-icon" aria-hidden="true">${KIND_ICON[file.kind] || '📄'}</span>
      <span class="file-name">${file.name}</span>
      <span class="file-size">${bytes(file.size)}</span>
      <button class="secondary" onClick=${onOpen || (() => download(file))}>${label}</button>
    </div>`;
}

const ACTION_LABELS = {
  renew_from_pool: 'Renew 30 days from the group pool',
  preserve: 'Move to my custody',
  request_renewal: 'Ask to keep it',
};

export function ExpiredCard({ message, view }) {
  const file = message.file;
  const [dialog, setDialog] = useState(null);
  const gone = file.status === 'deleted';
  const actions = gone ? [] : (file.actions || []).filter((a) => ACTION_LABELS[a]);
  return html`
    <div class="expired-card" role="group" aria-label=${`${KIND_NAME[file.kind]} ${gone ? 'deleted' : 'expired'}`}>
      <p class="expired-line">
        <span aria-hidden="true">${KIND_ICON[file.kind] || '📄'}</span>
        ${` This ${KIND_NAME[file.kind] || 'file'} ${gone ? 'is gone' : 'expired'} · sent on ${day(message.date)} · by ${handle(message.sender_id)}`}
      </p>
      ${!gone && html`<p class="expired-note">The owner or the sender decides whether to keep it.</p>`}
      ${actions.length > 0 && html`
        <div class="row">
          ${actions.map((a) => html`<button key=${a} onClick=${() => setDialog(a)}>${ACTION_LABELS[a]}</button>`)}
        </div>`}
      ${dialog === 'renew_from_pool' && html`<${RenewDialog} message=${message} view=${view} onClose=${() => setDialog(null)} />`}
      ${dialog === 'preserve' && html`<${CustodyDialog} message=${message} onClose=${() => setDialog(null)} />`}
      ${dialog === 'request_renewal' && html`<${RequestRenewal} message=${message} onClose=${() => setDialog(null)} />`}
    </div>`;
}

export function Media({ message, view }) {
  const file = message.file;
  if (!file) return null;
  if (file.status === 'expired' || file.status === 'deleted') {
    return html`<${ExpiredCard} message=${message} view=${view} />`;
  }
  const body = file.kind === 'image' && file.thumbnail ? html`<${Image} file=${file} />`
    : file.kind === 'video' || file.kind === 'audio' ? html`<${Playable} file=${file} />`
      : html`<${FileCard} file=${file} />`;
  return html`
    <div class="media">
      ${body}
      ${file.expiring_soon && file.expires_at && html`
        <p class="expiring">⏳ Expires on ${day(file.expires_at)}</p>`}
    </div>`;
}
