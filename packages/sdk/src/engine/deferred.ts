/**
 * Deferred values: configuration values with every reference resolved that the plan could resolve, and
 * the rest kept as plain-JSON markers (`{"$ref": {"resource", "path"}}`, `{"$template": [...]}`). A plan
 * stores them for inputs that depend on values known only after apply; apply fills the markers in from
 * state as it goes, so it executes the plan's values and never goes back to the configuration.
 */
import { hasUnknown, isUnknown, UNKNOWN } from '@stratus/model';
import { Ref, Template, type Value } from './expr.js';

/** A reference not resolved at plan time. */
export interface RefMarker {
  $ref: { resource: string; path: (string | number)[] };
}
/** A string template with at least one reference not resolved at plan time. */
export interface TemplateMarker {
  $template: (string | RefMarker)[];
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !isUnknown(v);
const isRefMarker = (v: unknown): v is RefMarker => isObj(v) && isObj(v.$ref) && Object.keys(v).length === 1;
const isTemplateMarker = (v: unknown): v is TemplateMarker =>
  isObj(v) && Array.isArray(v.$template) && Object.keys(v).length === 1;

/** Renders a resolved template part. */
const part = (p: unknown) => (typeof p === 'string' ? p : JSON.stringify(p));

/** What resolving one reference found. */
export type Lookup = (ref: {
  resource: string;
  path: readonly (string | number)[];
}) => { value: unknown } | { missing: string };

/**
 * Resolves what can be resolved in `v`: references whose value is fully known are replaced by it;
 * references to values not known yet stay as markers. A reference to something that does not exist
 * (an index past the end, a key that is absent) is reported through `onMissing` with the path of the
 * value that holds it, and resolves to UNKNOWN so planning can go on and report every such problem.
 */
export function resolvePartially(
  v: Value,
  lookup: Lookup,
  onMissing: (message: string, path: (string | number)[]) => void,
  path: (string | number)[] = [],
): unknown {
  return resolveAt(v, lookup, onMissing, [...path]);
}

/**
 * {@link resolvePartially} with `path` a stack it pushes to and pops from: copied only when a problem is
 * reported, not once per value (a plan resolves every value of every resource).
 */
function resolveAt(
  v: Value,
  lookup: Lookup,
  onMissing: (message: string, path: (string | number)[]) => void,
  path: (string | number)[],
): unknown {
  if (v instanceof Ref) return resolveRef(v, lookup, onMissing, path);
  if (v instanceof Template) {
    const parts = v.parts.map((p) => (p instanceof Ref ? resolveRef(p, lookup, onMissing, path) : p));
    if (parts.some(isUnknown)) return UNKNOWN;
    if (parts.some(isRefMarker)) return { $template: parts.map((p) => (isRefMarker(p) ? p : part(p))) };
    return parts.map(part).join('');
  }
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      path.push(i);
      out[i] = resolveAt(v[i]!, lookup, onMissing, path);
      path.pop();
    }
    return out;
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      path.push(k);
      const x = resolveAt(v[k]!, lookup, onMissing, path);
      path.pop();
      // An own `__proto__` key stays a key rather than set the prototype.
      if (k === '__proto__')
        Object.defineProperty(out, k, { value: x, writable: true, enumerable: true, configurable: true });
      else out[k] = x;
    }
    return out;
  }
  return v;
}

/** One reference: its value when fully known, a marker when not yet, UNKNOWN (reported) when missing. */
function resolveRef(
  r: Ref,
  lookup: Lookup,
  onMissing: (message: string, path: (string | number)[]) => void,
  path: (string | number)[],
): unknown {
  const got = lookup(r);
  if ('missing' in got) {
    onMissing(got.missing, [...path]);
    return UNKNOWN;
  }
  return hasUnknown(got.value) ? { $ref: { resource: r.resource, path: [...r.path] } } : got.value;
}

/** Whether a value still holds markers to resolve at apply. */
export function hasDeferred(v: unknown): boolean {
  if (isRefMarker(v) || isTemplateMarker(v)) return true;
  if (Array.isArray(v)) return v.some(hasDeferred);
  if (isObj(v)) return Object.values(v).some(hasDeferred);
  return false;
}

/** The value as a plan shows it: every marker is UNKNOWN. */
export function plannedValue(v: unknown): unknown {
  if (isRefMarker(v) || isTemplateMarker(v)) return UNKNOWN;
  if (Array.isArray(v)) return v.map(plannedValue);
  if (isObj(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = plannedValue(v[k]);
    return out;
  }
  return v;
}

/**
 * Fills the markers in with values now known (at apply, from state). Throws when a value is still
 * unknown or missing: a dependency that should have been applied first was not.
 */
export function resolveDeferred(v: unknown, lookup: Lookup): unknown {
  const one = (m: RefMarker): unknown => {
    const got = lookup(m.$ref);
    if ('missing' in got) throw new Error(got.missing);
    if (hasUnknown(got.value))
      throw new Error(`${m.$ref.resource} has no value yet for a reference the plan deferred to apply`);
    return got.value;
  };
  if (isRefMarker(v)) return one(v);
  if (isTemplateMarker(v)) return v.$template.map((p) => (isRefMarker(p) ? part(one(p)) : p)).join('');
  if (Array.isArray(v)) return v.map((x) => resolveDeferred(x, lookup));
  if (isObj(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = resolveDeferred(v[k], lookup);
    return out;
  }
  return v;
}
