// Controls that show a change at once and keep showing it until the server
// has answered the newest change of that key: a re-render from older state
// (an update of an earlier change, or any other re-render before the answer)
// must not flip a checkbox back under the user's hand, or the next click
// would send the same value again. Changes go out one after another, since
// results may come back out of order (protocol §2).
import { useRef, useState } from '../html.js';

let queue = Promise.resolve();

export function useOptimistic(send) {
  const [pending, setPending] = useState({}); // key -> {value, edit}
  const edits = useRef(0);
  const change = (key, value) => {
    edits.current += 1;
    const edit = edits.current;
    setPending((p) => ({ ...p, [key]: { value, edit } }));
    const settle = () => setPending((p) => {
      if (p[key]?.edit !== edit) return p; // a newer change of it is on its way
      const { [key]: done, ...rest } = p;
      return rest;
    });
    // A refusal is shown by `send` (mutate notifies); the server's state shows again.
    queue = queue.then(() => send(key, value)).then(settle, settle);
  };
  const shown = (key, current) => (key in pending ? pending[key].value : current);
  return { change, shown, busy: Object.keys(pending).length > 0 };
}
