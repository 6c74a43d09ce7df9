import { deepEqual, hasUnknown, isUnknown, UNKNOWN, type Unknown } from '@stratus/model';
import { Call, Ref, Template, type Value } from './expr.js';
import { callFunction, toText } from './functions.js';

export { deepEqual, hasUnknown, isUnknown, UNKNOWN, type Unknown };

/** Reads `path` inside a JSON value; undefined when absent. */
export function getPath(v: unknown, path: readonly (string | number)[]): unknown {
  let cur = v;
  for (const p of path) {
    if (isUnknown(cur)) return UNKNOWN;
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Replaces references in `v` with what `lookup` says; a template with an unknown part is unknown. */
export function resolveValue(v: Value, lookup: (ref: Ref) => unknown): unknown {
  if (v instanceof Ref) return lookup(v);
  if (v instanceof Call) {
    const args = v.args.map((a) => resolveValue(a, lookup));
    return args.some(hasUnknown) ? UNKNOWN : callFunction(v.fn, args);
  }
  if (v instanceof Template) {
    const parts = v.parts.map((p) => (typeof p === 'string' ? p : resolveValue(p, lookup)));
    if (parts.some(hasUnknown)) return UNKNOWN;
    return parts.map(toText).join('');
  }
  if (Array.isArray(v)) return v.map((x) => resolveValue(x, lookup));
  if (v !== null && typeof v === 'object') {
    // A loop rather than fromEntries(entries().map()): this runs for every value of every resource.
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = resolveValue(v[k]!, lookup);
      // An own `__proto__` key stays a key, as fromEntries would keep it, rather than set the prototype.
      if (k === '__proto__')
        Object.defineProperty(out, k, { value: x, writable: true, enumerable: true, configurable: true });
      else out[k] = x;
    }
    return out;
  }
  return v;
}
