/**
 * Deferred values: configuration values with every reference resolved that the plan could resolve, and
 * the rest kept as plain-JSON markers (`{"$ref": {"resource", "path"}}`, `{"$template": [...]}`). A plan
 * stores them for inputs that depend on values known only after apply; apply fills the markers in from
 * state as it goes, so it executes the plan's values and never goes back to the configuration.
 */
import { hasUnknown, isUnknown, UNKNOWN } from '@stratus/model';
import { Call, Ref, Template, type Value } from './expr.js';
import { callFunction, FunctionError, toText } from './functions.js';

/** A reference not resolved at plan time. */
export interface RefMarker {
  $ref: { resource: string; path: (string | number)[] };
}
/** A string template with at least one reference not resolved at plan time. */
export interface TemplateMarker {
  $template: (string | RefMarker | CallMarker)[];
}
/** A function call with an argument not known at plan time; its arguments are values or markers. */
export interface CallMarker {
  $call: { fn: string; args: unknown[] };
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !isUnknown(v);
const isRefMarker = (v: unknown): v is RefMarker => isObj(v) && isObj(v.$ref) && Object.keys(v).length === 1;
const isTemplateMarker = (v: unknown): v is TemplateMarker =>
  isObj(v) && Array.isArray(v.$template) && Object.keys(v).length === 1;
const isCallMarker = (v: unknown): v is CallMarker =>
  isObj(v) && isObj(v.$call) && Array.isArray(v.$call.args) && Object.keys(v).length === 1;
const isMarker = (v: unknown): v is RefMarker | CallMarker => isRefMarker(v) || isCallMarker(v);

/** Renders a resolved template part. */
const part = toText;

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
  const one = (r: Ref): unknown => {
    const got = lookup(r);
    if ('missing' in got) {
      onMissing(got.missing, path);
      return UNKNOWN;
    }
    return hasUnknown(got.value) ? { $ref: { resource: r.resource, path: [...r.path] } } : got.value;
  };
  if (v instanceof Ref) return one(v);
  if (v instanceof Call) {
    const args = v.args.map((a) => resolvePartially(a, lookup, onMissing, path));
    // An argument that does not exist was reported; one known only after apply defers the call.
    if (args.some(hasUnknown)) return UNKNOWN;
    if (args.some(hasDeferred)) return { $call: { fn: v.fn, args } };
    try {
      return callFunction(v.fn, args);
    } catch (e) {
      if (!(e instanceof FunctionError)) throw e;
      onMissing(`${v.text}: ${e.message}`, path);
      return UNKNOWN;
    }
  }
  if (v instanceof Template) {
    const parts = v.parts.map((p) =>
      typeof p === 'string' ? p : resolvePartially(p, lookup, onMissing, path),
    );
    if (parts.some(hasUnknown)) return UNKNOWN;
    if (parts.some(hasDeferred)) return { $template: parts.map((p) => (isMarker(p) ? p : part(p))) };
    return parts.map(part).join('');
  }
  if (Array.isArray(v)) return v.map((x, i) => resolvePartially(x, lookup, onMissing, [...path, i]));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = resolvePartially(v[k]!, lookup, onMissing, [...path, k]);
      // An own `__proto__` key stays a key rather than set the prototype.
      if (k === '__proto__')
        Object.defineProperty(out, k, { value: x, writable: true, enumerable: true, configurable: true });
      else out[k] = x;
    }
    return out;
  }
  return v;
}

/** Whether a value still holds markers to resolve at apply. */
export function hasDeferred(v: unknown): boolean {
  if (isRefMarker(v) || isTemplateMarker(v) || isCallMarker(v)) return true;
  if (Array.isArray(v)) return v.some(hasDeferred);
  if (isObj(v)) return Object.values(v).some(hasDeferred);
  return false;
}

/** The value as a plan shows it: every marker is UNKNOWN. */
export function plannedValue(v: unknown): unknown {
  if (isRefMarker(v) || isTemplateMarker(v) || isCallMarker(v)) return UNKNOWN;
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
  // A call fails at apply only when a value known now breaks it (e.g. split of an address, index out
  // of range): the error names the function, never the values.
  if (isCallMarker(v))
    return callFunction(
      v.$call.fn,
      v.$call.args.map((a) => resolveDeferred(a, lookup)),
    );
  if (isTemplateMarker(v))
    return v.$template.map((p) => (typeof p === 'string' ? p : part(resolveDeferred(p, lookup)))).join('');
  if (Array.isArray(v)) return v.map((x) => resolveDeferred(x, lookup));
  if (isObj(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = resolveDeferred(v[k], lookup);
    return out;
  }
  return v;
}
