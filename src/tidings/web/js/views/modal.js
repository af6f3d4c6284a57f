// An accessible modal on the native <dialog>: focus moves into it, Escape
// closes it, focus returns to where it was.
import { html, useEffect, useRef } from '../html.js';

export function Modal({ title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement;
    dialog.showModal();
    return () => {
      if (dialog.open) dialog.close();
      if (opener && opener.focus) opener.focus();
    };
  }, []);
  return html`
    <dialog ref=${ref} class="modal" aria-labelledby="modal-title"
            onCancel=${(e) => { e.preventDefault(); onClose(); }}>
      <h2 id="modal-title">${title}</h2>
      ${children}
    </dialog>`;
}
