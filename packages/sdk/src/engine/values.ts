import { Ref, Template, type Value } from './expr.js';

/** A value that will be known only after apply. */
export class Unknown {
  toJSON(): string {
    return '(known after apply)';
  }
}

/** The one Unknown value. */
export const UNKNOWN = new Unknown();

/** Whether `v` is, or contains, an unknown value. */
export function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v !== null && typeof v === 'object') return Object.values(v).some(hasUnknown);
  return false;
}

/** Deep equality of JSON values (and UNKNOWN, which equals nothing, not even itself). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === UNKNOWN || b === UNKNOWN) return false;
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(b)) {
    // Keys holding undefined count as absent. Loops rather than filter/every: this runs for every
    // attribute of every resource in a plan.
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    let na = 0;
    for (const k of Object.keys(ra)) {
      const x = ra[k];
      if (x === undefined) continue;
      na++;
      if (!deepEqual(x, rb[k])) return false;
    }
    let nb = 0;
    for (const k of Object.keys(rb)) if (rb[k] !== undefined) nb++;
    return na === nb;
  }
  return false;
}

/** Reads `path` inside a JSON value; undefined when absent. */
export function getPath(v: unknown, path: readonly (string | number)[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === UNKNOWN) return UNKNOWN;
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
    if (parts.some((p) => p === UNKNOWN)) return UNKNOWN;
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
