// One place that binds htm to Preact, so views import `html` and hooks from here.
import { h, render } from '../vendor/preact.module.js';
import htm from '../vendor/htm.module.js';

export { render };
export { useState, useEffect, useRef, useLayoutEffect, useMemo, useCallback }
  from '../vendor/preact-hooks.module.js';
export const html = htm.bind(h);
