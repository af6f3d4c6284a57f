// Sign up and sign in: one form, two buttons.
import { html, useState } from '../html.js';
import { signIn } from '../session.js';

export function AuthView() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(register) {
    setBusy(true);
    setError(null);
    try {
      await signIn(register, username.trim(), password);
    } catch (failure) {
      setError(failure.message);
    } finally {
      setBusy(false);
    }
  }

  return html`
    <main class="auth">
      <h1>tidings</h1>
      <form onSubmit=${(e) => { e.preventDefault(); submit(false); }}>
        <label for="auth-username">Username</label>
        <input id="auth-username" name="username" autocomplete="username" required
               value=${username} onInput=${(e) => setUsername(e.target.value)} />
        <label for="auth-password">Password</label>
        <input id="auth-password" name="password" type="password" required minlength="8"
               autocomplete="current-password"
               value=${password} onInput=${(e) => setPassword(e.target.value)} />
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <div class="row">
          <button type="submit" disabled=${busy}>Sign in</button>
          <button type="button" class="secondary" disabled=${busy}
                  onClick=${(e) => { if (e.target.form.reportValidity()) submit(true); }}>
            Create account
          </button>
        </div>
      </form>
    </main>`;
}
