// My devices (protocol §5 device.*): every signed-in device with when it was
// last seen, this one marked; rename one, sign one out, or sign out every
// other. A device signed out here is closed by the server (4001) and its page
// returns to the sign-in form.
import { html, useEffect, useState } from '../html.js';
import { call } from '../session.js';
import { notify } from '../store.js';
import { day, time } from '../format.js';
import { Page } from './page.js';

function when(unix) {
  return `${day(unix)} ${time(unix)}`;
}

function DeviceRow({ device, onChange }) {
  const [name, setName] = useState(device.name);
  const [editing, setEditing] = useState(false);
  async function rename(e) {
    e.preventDefault();
    try {
      await call('device.rename', { device_id: device.device_id, name: name.trim() });
      setEditing(false);
      onChange();
    } catch (error) {
      notify(error.message);
    }
  }
  async function revoke() {
    try {
      await call('device.revoke', { device_id: device.device_id });
      notify(`“${device.name}” was signed out.`, 'info');
      onChange();
    } catch (error) {
      notify(error.message);
    }
  }
  return html`
    <li class="device" data-device-id=${device.device_id}>
      ${editing
        ? html`<form class="row" onSubmit=${rename}>
            <input aria-label=${`New name for ${device.name}`} value=${name} required maxlength="64"
                   onInput=${(e) => setName(e.target.value)} />
            <button type="submit" disabled=${!name.trim()}>Save</button>
            <button type="button" class="link" onClick=${() => setEditing(false)}>Cancel</button>
          </form>`
        : html`<span class="device-title"><strong class="device-name">${device.name}</strong>
          ${device.current && html`<span class="badge current">This device</span>`}</span>`}
      <span class="hint">Signed in ${when(device.created_at)} · last seen ${when(device.last_seen_at)}</span>
      <span class="row">
        ${!editing && html`<button class="link" onClick=${() => setEditing(true)}
                                   aria-label=${`Rename ${device.name}`}>Rename</button>`}
        ${!device.current && html`<button class="link danger" onClick=${revoke}
                                          aria-label=${`Sign out ${device.name}`}>Sign out</button>`}
      </span>
    </li>`;
}

export function DevicesPage() {
  const [devices, setDevices] = useState(null);
  const load = () => call('device.list').then((r) => setDevices(r.devices), (e) => notify(e.message));
  useEffect(() => { load(); }, []);

  async function revokeOthers() {
    try {
      const result = await call('device.revoke_others');
      notify(`Signed out ${result.revoked.length} other device${result.revoked.length === 1 ? '' : 's'}.`, 'info');
      load();
    } catch (error) {
      notify(error.message);
    }
  }

  const others = (devices || []).filter((d) => !d.current).length;
  return html`
    <${Page} id="devices-title" title="Devices">
      <div class="settings">
        <p class="hint">Where you are signed in. Signing a device out closes its connection at once; it has to sign in again.</p>
        ${devices && html`<ul class="devices" aria-label="My devices">
          ${devices.map((d) => html`<${DeviceRow} key=${`${d.device_id}:${d.name}`} device=${d} onChange=${load} />`)}
        </ul>`}
        <button class="secondary" disabled=${!others} onClick=${revokeOthers}>Sign out all other devices</button>
      </div>
    </${Page}>`;
}
