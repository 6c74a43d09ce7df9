import { isAbsolute, resolve } from 'node:path';
import {
  attributes,
  durationProblem,
  isUrlSource,
  parseDuration,
  type ResourceType,
  schemas,
  validateInputs,
} from '@stratus/model';
import type { BackendConfig, Lifecycle, Timeouts } from './config.js';
import { Call, fromRawJson, Ref, Template, toRawJson, type Value } from './expr.js';

/** A problem in one resource's properties, at a path inside them. */
export interface PropertyProblem {
  path: (string | number)[];
  message: string;
}

function isRefText(v: unknown): boolean {
  return typeof v === 'string' && v.includes('${');
}

function get(obj: unknown, path: readonly (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/**
 * Turns a resource's raw properties (plain JSON whose strings may hold `${...}`) into validated
 * properties: `name` defaults to the resource name, local paths are made absolute against `dir`,
 * schema defaults are filled in, and references are parsed. Schema errors on values that are
 * references are left to reference checking, since their type is known only later.
 *
 * `raw` is copied first, since filling in defaults changes it; a caller that made `raw` for this call
 * alone and never reads it again (the YAML loader, from the parsed document) passes `owned: true` and
 * saves the deep copy per resource.
 */
export function normalizeProperties(
  type: ResourceType,
  name: string,
  raw: Record<string, unknown>,
  dir: string,
  opts: { owned?: boolean } = {},
): { properties: Record<string, Value>; problems: PropertyProblem[] } {
  const props: Record<string, unknown> = opts.owned ? raw : structuredClone(raw);
  const attrs = attributes(schemas[type]);
  const problems: PropertyProblem[] = [];
  for (const a of attrs) {
    if (!a.input) {
      if (a.name in props)
        problems.push({ path: [a.name], message: 'is computed by Stratus and cannot be set' });
      continue;
    }
    if (a.name === 'name' && props.name === undefined) props.name = name;
    const v = props[a.name];
    if (a.localPath && typeof v === 'string' && !isRefText(v) && !isAbsolute(v) && !isUrlSource(v))
      props[a.name] = resolve(dir, v);
  }
  for (const e of validateInputs(type, props)) {
    // The value at (or above) the error is a reference: its type is checked once it is resolved.
    const onRef = e.path.some((_, i) => isRefText(get(props, e.path.slice(0, i + 1))));
    if (!onRef && !problems.some((p) => p.path.join('.') === e.path.join('.'))) problems.push(e);
  }
  const properties = fromRawJson(props, (message, path) => problems.push({ path, message })) as Record<
    string,
    Value
  >;
  return { properties, problems };
}

/**
 * Like {@link normalizeProperties}, for properties already evaluated into values (a stack file's
 * expressions, with what depends on other resources left as references and calls): literal strings are
 * taken as they are, never parsed again for `${...}`. `defaultName` is the `name` when none is given.
 */
export function normalizeValues(
  type: ResourceType,
  defaultName: string,
  values: Record<string, Value>,
  dir: string,
): { properties: Record<string, Value>; problems: PropertyProblem[] } {
  const props: Record<string, Value> = { ...values };
  const problems: PropertyProblem[] = [];
  const symbolic = (v: unknown) => v instanceof Ref || v instanceof Template || v instanceof Call;
  for (const a of attributes(schemas[type])) {
    if (!a.input) {
      if (a.name in props)
        problems.push({ path: [a.name], message: 'is computed by Stratus and cannot be set' });
      continue;
    }
    if (a.name === 'name' && props.name === undefined) props.name = defaultName;
    const v = props[a.name];
    if (a.localPath && typeof v === 'string' && !isAbsolute(v) && !isUrlSource(v))
      props[a.name] = resolve(dir, v);
  }
  // Validated as plain JSON, in which a reference or call is its text: errors on those wait for the value.
  const raw = toRawJson(props) as Record<string, unknown>;
  for (const e of validateInputs(type, raw)) {
    let cur: unknown = props;
    const onRef = e.path.some((p) => {
      cur =
        cur !== null && typeof cur === 'object' && !symbolic(cur)
          ? (cur as Record<string | number, unknown>)[p]
          : undefined;
      return symbolic(cur);
    });
    if (!onRef && !problems.some((p) => p.path.join('.') === e.path.join('.'))) problems.push(e);
  }
  return { properties: withDefaults(props, raw) as Record<string, Value>, problems };
}

/** `v` with the defaults validation filled into `raw` (its plain copy) added where `v` has no value. */
function withDefaults(v: Value, raw: unknown): Value {
  if (v instanceof Ref || v instanceof Template || v instanceof Call) return v;
  if (Array.isArray(v)) return v.map((x, i) => withDefaults(x, Array.isArray(raw) ? raw[i] : undefined));
  if (v !== null && typeof v === 'object' && raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const out: Record<string, Value> = {};
    for (const k of Object.keys(raw)) {
      const x = Object.hasOwn(v, k)
        ? withDefaults(v[k]!, (raw as Record<string, unknown>)[k])
        : ((raw as Record<string, unknown>)[k] as Value);
      if (k === '__proto__')
        Object.defineProperty(out, k, { value: x, writable: true, enumerable: true, configurable: true });
      else out[k] = x;
    }
    return out;
  }
  return v;
}

// Durations are the model's, so a server's `wait.timeout` and `timeouts` accept the same values.
export { durationProblem, MAX_OPERATION_TIMEOUT_MS, MAX_TIMER_MS, parseDuration } from '@stratus/model';

/**
 * Checks a resource's `lifecycle` and `timeouts` blocks (whatever the front end). Problem paths are
 * relative to the resource declaration.
 */
export function normalizeOptions(
  type: ResourceType,
  lifecycle: unknown,
  timeouts: unknown,
): { lifecycle: Lifecycle; timeouts: Timeouts; problems: PropertyProblem[] } {
  const problems: PropertyProblem[] = [];
  const out: Lifecycle = {};
  const isObj = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (lifecycle !== undefined) {
    if (!isObj(lifecycle)) problems.push({ path: ['lifecycle'], message: 'must be a mapping' });
    else {
      for (const [k, v] of Object.entries(lifecycle)) {
        if (k === 'createBeforeDestroy' || k === 'preventDestroy') {
          if (typeof v !== 'boolean')
            problems.push({ path: ['lifecycle', k], message: 'must be true or false' });
          else out[k] = v;
        } else if (k === 'ignoreChanges') {
          const inputs = new Set(
            attributes(schemas[type])
              .filter((a) => a.input)
              .map((a) => a.name),
          );
          if (!Array.isArray(v))
            problems.push({ path: ['lifecycle', k], message: 'must be a list of attribute names' });
          else {
            v.forEach((a, i) => {
              if (typeof a !== 'string' || !inputs.has(a))
                problems.push({
                  path: ['lifecycle', k, i],
                  message: `${JSON.stringify(a)} is not an input attribute of ${type}`,
                });
            });
            out.ignoreChanges = v.filter((a): a is string => typeof a === 'string');
          }
        } else
          problems.push({
            path: ['lifecycle', k],
            message: 'unknown option; expected createBeforeDestroy, preventDestroy or ignoreChanges',
          });
      }
    }
  }
  const t: Timeouts = {};
  if (timeouts !== undefined) {
    if (!isObj(timeouts)) problems.push({ path: ['timeouts'], message: 'must be a mapping' });
    else {
      for (const [k, v] of Object.entries(timeouts)) {
        const problem = durationProblem(v);
        if (k !== 'create' && k !== 'update' && k !== 'delete')
          problems.push({
            path: ['timeouts', k],
            message: 'unknown operation; expected create, update or delete',
          });
        else if (problem) problems.push({ path: ['timeouts', k], message: problem });
        else t[k] = parseDuration(v)!;
      }
    }
  }
  return { lifecycle: out, timeouts: t, problems };
}

/** Checks a stack's `backend` block: `{type: local, path?}` or `{type: postgres, url?, schema?}`. */
export function normalizeBackend(
  raw: unknown,
  dir: string,
): { backend?: BackendConfig; problems: PropertyProblem[] } {
  const b = (raw ?? {}) as Record<string, unknown>;
  const str = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
  const problems: PropertyProblem[] = [];
  const allowed =
    b.type === 'local' ? ['type', 'path'] : b.type === 'postgres' ? ['type', 'url', 'schema'] : null;
  if (!allowed) return { problems: [{ path: ['type'], message: 'must be local or postgres' }] };
  for (const k of Object.keys(b))
    if (!allowed.includes(k))
      problems.push({ path: [k], message: `unknown key; expected ${allowed.join(', ')}` });
  for (const k of allowed)
    if (b[k] !== undefined && typeof b[k] !== 'string')
      problems.push({ path: [k], message: 'must be a string' });
  if (problems.length) return { problems };
  if (b.type === 'local') {
    const path = str('path');
    return { backend: { type: 'local', path: path ? resolve(dir, path) : undefined }, problems };
  }
  return { backend: { type: 'postgres', url: str('url'), schema: str('schema') }, problems };
}
