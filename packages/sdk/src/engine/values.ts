import { deepEqual, hasUnknown, isUnknown, UNKNOWN, type Unknown } from '@stratus/model';
import { Ref, Template, type Value } from './expr.js';

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
  if (v instanceof Template) {
    const parts = v.parts.map((p) => (p instanceof Ref ? lookup(p) : p));
    if (parts.some(isUnknown)) return UNKNOWN;
    return parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join('');
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
