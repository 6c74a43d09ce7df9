/**
 * Evaluates parsed expressions (syntax.ts) against variables, locals, `count.index`, `each.key` /
 * `each.value` and the stack's resources. What is known when the stack is loaded is computed; what
 * depends on another resource stays symbolic as the engine's values (a Ref, or a Call of the function
 * on its arguments), so the engine computes it when the resource's attributes are known: unknown
 * values flow through functions as unknown.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { listNames } from '../diagnostics/limits.js';
import { Call, Ref, Template, type Value } from '../engine/expr.js';
import { callFunction, FUNCTIONS, FunctionError, toText } from '../engine/functions.js';
import { instanceName } from './address.js';
import type { Expr } from './syntax.js';

/** A problem found while evaluating, at an offset of the expression's string. */
export class EvalProblem extends Error {
  override readonly name = 'EvalProblem';
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

/**
 * Thrown when an expression reads a variable that has no value (allowed only where the caller loads a
 * stack for its state and outputs, not to plan): whatever needed it is left out, silently.
 */
export class MissingValue extends Error {
  override readonly name = 'MissingValue';
}

/** How a resource is repeated, for references to it. */
export interface ResourceShape {
  mode: 'single' | 'count' | 'forEach';
  /** The instance keys (numbers for count, strings for forEach); undefined: not known. */
  keys?: readonly (number | string)[];
}

/** A value read from a variable that had none (see {@link MissingValue}). */
export const MISSING: unique symbol = Symbol('missing');

/** What an expression may read. */
export interface Scope {
  vars: ReadonlyMap<string, unknown>;
  sensitiveVars: ReadonlySet<string>;
  /** The value of `local.NAME` (evaluated once); `taint` learns whether it is sensitive. */
  local?: (name: string, at: number, taint: Taint) => Value;
  localNames?: readonly string[];
  count?: number;
  each?: { key: string; value: Value; sensitive?: string };
  resources: ReadonlyMap<string, ResourceShape>;
  /** When set, a reference to a resource is an error with this message (e.g. in `count`). */
  noResources?: string;
  /** Directory `file()` paths are relative to. */
  dir: string;
}

/** Records the first sensitive value an evaluation read (e.g. `var.password`): the result is sensitive. */
export interface Taint {
  sensitive?: string;
}

/** Whether a value still depends on a resource (holds a Ref, Call or Template). */
export function isSymbolic(v: Value): boolean {
  if (v instanceof Ref || v instanceof Call || v instanceof Template) return true;
  if (Array.isArray(v)) return v.some(isSymbolic);
  if (v !== null && typeof v === 'object') return Object.values(v).some(isSymbolic);
  return false;
}

const SPECIAL = new Set(['var', 'local', 'count', 'each']);

/** The names `file()` adds to the engine's functions. */
const LOADER_FUNCTIONS = ['file'];

/** Evaluates `e` (from the string `text`, for Call texts) in `scope`. Throws EvalProblem. */
export function evaluate(e: Expr, text: string, scope: Scope, taint: Taint): Value {
  const ev = (x: Expr): Value => evaluate(x, text, scope, taint);
  const src = (x: Expr) => `\${${text.slice(x.at, x.end)}}`;
  switch (e.k) {
    case 'lit':
      return e.value as Value;
    case 'list':
      return e.items.map(ev);
    case 'map': {
      const out: Record<string, Value> = {};
      for (const [k, x] of e.entries) out[k] = ev(x);
      return out;
    }
    case 'tmpl': {
      const parts = e.parts.map((p) => (typeof p === 'string' ? p : ev(p)));
      if (!parts.some((p) => typeof p !== 'string' && isSymbolic(p)))
        return parts.map((p) => toText(p)).join('');
      const out: (string | Ref | Call)[] = [];
      for (const p of parts) {
        if (p instanceof Ref || p instanceof Call) out.push(p);
        else if (p instanceof Template) out.push(...p.parts);
        else if (isSymbolic(p)) out.push(new Call('jsonencode', [p], src(e)));
        else out.push(toText(p));
      }
      return new Template(out);
    }
    case 'name':
      return reference(e, undefined);
    case 'get': {
      if (e.obj.k === 'name' && (SPECIAL.has(e.obj.name) || scope.resources.has(e.obj.name)))
        return reference(e.obj, e);
      const obj = ev(e.obj);
      const key = ev(e.key);
      if (obj instanceof Ref && (typeof key === 'string' || typeof key === 'number'))
        return new Ref(obj.resource, [...obj.path, key], src(e));
      return apply('index', [obj, key], e);
    }
    case 'call': {
      if (e.fn === 'file') return readFile(e);
      if (!Object.hasOwn(FUNCTIONS, e.fn))
        throw new EvalProblem(
          `unknown function ${e.fn}(); functions: ${[...Object.keys(FUNCTIONS), ...LOADER_FUNCTIONS].sort().join(', ')}`,
          e.at,
        );
      return apply(e.fn, e.args.map(ev), e);
    }
    case 'op':
      return apply(e.op, e.args.map(ev), e);
  }

  function apply(fn: string, args: Value[], at: Expr): Value {
    if (args.some(isSymbolic)) return new Call(fn, args, src(at));
    try {
      return callFunction(fn, args) as Value;
    } catch (err) {
      if (err instanceof FunctionError) throw new EvalProblem(err.message, at.at);
      throw err;
    }
  }

  function readFile(call: Expr & { k: 'call' }): Value {
    if (call.args.length !== 1)
      throw new EvalProblem(`file() takes 1 argument, got ${call.args.length}`, call.at);
    const p = ev(call.args[0]!);
    if (isSymbolic(p)) throw new EvalProblem('file(): the path must be known before apply', call.at);
    if (typeof p !== 'string') throw new EvalProblem('file(): the path must be a string', call.at);
    try {
      return readFileSync(resolve(scope.dir, p), 'utf8');
    } catch (err) {
      throw new EvalProblem(
        `file(): cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        call.at,
      );
    }
  }

  /** `name` alone, or `name.key` / `name[key]` when `get` is given. */
  function reference(name: Expr & { k: 'name' }, get: (Expr & { k: 'get' }) | undefined): Value {
    const n = name.name;
    const attr = get?.attr && get.key.k === 'lit' ? String(get.key.value) : undefined;
    const need = (what: string) => {
      if (attr === undefined) throw new EvalProblem(`${n} must be followed by .${what}`, name.at);
      return attr;
    };
    if (n === 'var') {
      const v = need('NAME of a variable');
      if (!scope.vars.has(v))
        throw new EvalProblem(
          `unknown variable var.${v}; ${scope.vars.size ? `declared: ${listNames([...scope.vars.keys()].map((x) => `var.${x}`))}` : 'the stack declares no variables'}`,
          get!.key.at,
        );
      const value = scope.vars.get(v);
      if (value === MISSING) throw new MissingValue(`var.${v}`);
      if (scope.sensitiveVars.has(v)) taint.sensitive ??= `var.${v}`;
      return value as Value;
    }
    if (n === 'local') {
      const l = need('NAME of a local value');
      if (!scope.local || !scope.localNames?.includes(l))
        throw new EvalProblem(
          `unknown local value local.${l}; ${scope.localNames?.length ? `declared: ${listNames(scope.localNames.map((x) => `local.${x}`))}` : 'the stack declares no locals here'}`,
          get!.key.at,
        );
      return scope.local(l, get!.key.at, taint);
    }
    if (n === 'count') {
      if (need('index') !== 'index')
        throw new EvalProblem(`count has only .index, not .${attr}`, get!.key.at);
      if (scope.count === undefined)
        throw new EvalProblem('count.index is only available in a resource with count', name.at);
      return scope.count;
    }
    if (n === 'each') {
      const a = need('key or .value');
      if (a !== 'key' && a !== 'value')
        throw new EvalProblem(`each has .key and .value, not .${a}`, get!.key.at);
      if (!scope.each)
        throw new EvalProblem(`each.${a} is only available in a resource with forEach`, name.at);
      if (a === 'key') return scope.each.key;
      if (scope.each.sensitive) taint.sensitive ??= scope.each.sensitive;
      return scope.each.value;
    }
    const shape = scope.resources.get(n);
    if (scope.noResources)
      throw new EvalProblem(
        shape ? scope.noResources : `unknown name ${n}: variables are var.NAME, locals local.NAME`,
        name.at,
      );
    // A name that is no resource stays a reference: checkStack reports it with the stack's resources.
    if (!shape || shape.mode === 'single') {
      const ref = new Ref(n, [], `\${${n}}`);
      if (!get) return ref;
      const key = ev(get.key);
      if (typeof key !== 'string' && typeof key !== 'number')
        throw new EvalProblem(
          `${n} has no count or forEach: index it by attribute name (${n}.NAME)`,
          get.key.at,
        );
      if (!get.attr)
        throw new EvalProblem(`${n} has no count or forEach, so ${src(get)} names no instance`, get.at);
      return new Ref(n, [key], src(get));
    }
    if (!get || get.attr)
      throw new EvalProblem(
        `${n} has ${shape.mode}: name one instance, e.g. ${n}[${shape.mode === 'count' ? '0' : '"KEY"'}]${get ? `.${attr}` : ''}`,
        name.at,
      );
    const key = ev(get.key);
    if (isSymbolic(key))
      throw new EvalProblem(`the instance key of ${n} must be known before apply`, get.key.at);
    if (shape.mode === 'count') {
      if (typeof key !== 'number' || !Number.isInteger(key))
        throw new EvalProblem(`${n} has count: its instances are numbered, e.g. ${n}[0]`, get.key.at);
      if (shape.keys && (key < 0 || key >= shape.keys.length))
        throw new EvalProblem(`${n}[${key}] does not exist: ${n} has count ${shape.keys.length}`, get.key.at);
      const inst = instanceName(n, key);
      return new Ref(inst, [], `\${${inst}}`);
    }
    if (typeof key !== 'string')
      throw new EvalProblem(`${n} has forEach: its instances are named by key, e.g. ${n}["KEY"]`, get.key.at);
    if (shape.keys && !shape.keys.includes(key))
      throw new EvalProblem(
        `${n}[${JSON.stringify(key)}] does not exist: the keys of ${n} are ${listNames(shape.keys.map((k) => JSON.stringify(k)))}`,
        get.key.at,
      );
    const inst = instanceName(n, key);
    return new Ref(inst, [], `\${${inst}}`);
  }
}

/** Names a variable, local or resource reference would have suggested, for "did you mean". */
export const loaderFunctionNames = (): string[] => [...Object.keys(FUNCTIONS), ...LOADER_FUNCTIONS].sort();
