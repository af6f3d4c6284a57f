// Exporting a chat's history (protocol §5 message.export, export.status and
// §12 GET /exports/{job_id}): start it, follow its progress, then download
// the file with the device token (a link cannot carry the Authorization
// header, so the file is fetched and saved from a blob: URL).
import { html, useEffect, useState } from '../html.js';
import { call, token } from '../session.js';
import { notify } from '../store.js';

const POLL_MS = 1000;
const FORMATS = [{ value: 'html', label: 'Web page (HTML)' }, { value: 'jsonl', label: 'JSON Lines' }];

async function save(job) {
  const response = await fetch(job.url, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status !== 200) throw new Error(`the export is not ready (${response.status})`);
  const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') || '');
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name ? name[1] : `tidings-export-${job.job_id}.${job.format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function stateText(job) {
  if (job.state === 'queued') return 'Waiting to start…';
  if (job.state === 'running') return `Exporting… ${job.progress}${job.total != null ? ` of ${job.total}` : ''} messages`;
  if (job.state === 'done') return `Ready: ${job.progress} messages`;
  if (job.state === 'failed') return `Failed: ${job.error || 'unknown error'}`;
  return 'This export expired; start a new one.';
}

export function ExportPanel({ chatId }) {
  const [format, setFormat] = useState('html');
  const [job, setJob] = useState(null);

  // Follow the export until it is done or failed.
  useEffect(() => {
    if (!job || !['queued', 'running'].includes(job.state)) return undefined;
    const timer = setTimeout(() => {
      call('export.status', { job_id: job.job_id }).then(setJob, () => setJob({ ...job }));
    }, POLL_MS);
    return () => clearTimeout(timer);
  }, [job]);

  async function start() {
    try {
      const { job_id: jobId } = await call('message.export', { chat_id: chatId, format });
      setJob(await call('export.status', { job_id: jobId }));
    } catch (error) {
      notify(error.message);
    }
  }

  const busy = job && ['queued', 'running'].includes(job.state);
  return html`
    <fieldset class="export">
      <legend>Export the history</legend>
      <p class="hint">Everything you can see in this chat, as one file. It is kept for a day.</p>
      ${FORMATS.map((f) => html`
        <label class="choice" key=${f.value}>
          <input type="radio" name="export-format" checked=${format === f.value} disabled=${busy}
                 onChange=${() => setFormat(f.value)} />
          ${f.label}
        </label>`)}
      <div class="row">
        <button type="button" class="secondary" disabled=${busy} onClick=${start}>Export</button>
        ${job && html`<span class="export-state" role="status">${stateText(job)}</span>`}
        ${job?.state === 'done' && job.url && html`
          <button type="button" onClick=${() => save(job).catch((e) => notify(e.message))}>Download</button>`}
      </div>
    </fieldset>`;
}
