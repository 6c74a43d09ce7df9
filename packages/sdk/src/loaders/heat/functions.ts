/**
 * Intrinsic functions: a template's values evaluated, each function run now when its arguments are
 * known, else left as a call for apply (engine/heat-functions.ts); get_resource and get_attr.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { listNames } from '../../diagnostics/limits.js';
import { Call, Ref, type Value } from '../../engine/expr.js';
import { callFunction, FunctionError } from '../../engine/functions.js';
import { isSymbolic, type Taint } from '../../expand/evaluate.js';
import {
  type Decl,
  type Ev,
  HeatError,
  index,
  MAX_EV_DEPTH,
  MAX_VISITS,
  REMOVED,
  Reported,
  stableUuid,
  Tainted,
  type TemplateScope,
} from './common.js';
import type { HeatLoader } from './load.js';

/**
 * Heat functions whose argument is a list evaluated item by item before the call: their arity (least,
 * most) and the usage a wrong one is told.
 */
const LIST_FUNCTIONS: Record<string, [number, number, string]> = {
  list_join: [2, 100, '[DELIMITER, LIST, ...]'],
  str_split: [2, 3, '[DELIMITER, STRING] or [DELIMITER, STRING, INDEX]'],
  map_merge: [1, 100, '[MAP, MAP, ...]'],
  map_replace: [2, 2, '[MAP, {keys: ..., values: ...}]'],
  digest: [2, 2, '[ALGORITHM, VALUE]'],
  filter: [2, 2, '[VALUES_TO_REMOVE, LIST]'],
  contains: [2, 2, '[VALUE, SEQUENCE]'],
  equals: [2, 2, '[VALUE, VALUE]'],
};

import { FUNCTION_SINCE, versionName } from './versions.js';
import { isAlias, isMap, isScalar, isSeq } from './yaml-source.js';

/** Calls a Heat function now when its arguments are known, else leaves the call for apply. */
export function fn(_L: HeatLoader, name: string, args: Value[], node: unknown, what: string): Value {
  if (args.some((a) => isSymbolic(a))) return new Call(name, args, `{${what}: ...}`);
  try {
    return callFunction(name, args) as Value;
  } catch (e) {
    if (e instanceof FunctionError) throw new HeatError(e.message, node);
    throw e;
  }
}

/**
 * Evaluates a template value: scalars as they are (with a ResourceGroup's index variable replaced),
 * lists and maps item by item, and a map with one key that is a function as that function.
 */
export function ev(
  L: HeatLoader,
  scope: TemplateScope,
  node0: unknown,
  taint: Taint,
  o: { subs?: [string, string][]; condition?: boolean },
): Ev {
  const { src } = scope;
  const node = src.deref(node0);
  if (node === undefined || node === null) return null;
  // Aliases can make a small file a deep or huge value (an alias inside what it names, alias bombs).
  if (isAlias(node0) && ++L.visits > MAX_VISITS)
    throw new HeatError(
      `the template's values are too large to evaluate (more than ${MAX_VISITS} aliases expanded; an alias bomb?)`,
      node,
    );
  if (L.evDepth >= MAX_EV_DEPTH)
    throw new HeatError(`values nest more than ${MAX_EV_DEPTH} deep (an alias inside what it names?)`, node);
  L.evDepth++;
  try {
    return L.evNode(scope, node, taint, o);
  } finally {
    L.evDepth--;
  }
}

export function evNode(
  L: HeatLoader,
  scope: TemplateScope,
  node: unknown,
  taint: Taint,
  o: { subs?: [string, string][]; condition?: boolean },
): Ev {
  const { src } = scope;
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string' && o.subs?.length) {
      let s = v;
      for (const [k, x] of o.subs) s = s.split(k).join(x);
      return s;
    }
    if (v instanceof Date) return v.toISOString().slice(0, 10);
    if (typeof v === 'bigint') return Number(v);
    return (v ?? null) as Value;
  }
  if (isSeq(node)) {
    const out: Value[] = [];
    for (const x of node.items) {
      const v = L.ev(scope, x, taint, o);
      if (v !== REMOVED) out.push(v);
    }
    return out;
  }
  if (isMap(node)) {
    const pairs = src.pairs(node);
    if (pairs.length === 1) {
      const [k, kn, arg] = pairs[0]!;
      if (Object.hasOwn(FUNCTION_SINCE, k) || k.startsWith('Fn::') || k === 'Ref')
        return L.call(scope, k, kn, arg, taint, o);
    }
    const out: Record<string, Value> = {};
    for (const [k, , x] of pairs) {
      const v = L.ev(scope, x, taint, o);
      if (v === REMOVED) continue;
      const key = o.subs?.length ? o.subs.reduce((s, [a, b]) => s.split(a).join(b), k) : k;
      if (key === '__proto__')
        Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
      else out[key] = v;
    }
    return out;
  }
  throw new HeatError('unexpected YAML node', node);
}

/** One intrinsic function. */
export function call(
  L: HeatLoader,
  scope: TemplateScope,
  fn: string,
  fnNode: unknown,
  argNode: unknown,
  taint: Taint,
  o: { subs?: [string, string][]; condition?: boolean },
): Ev {
  const { src } = scope;
  if (fn.startsWith('Fn::') || fn === 'Ref')
    throw new HeatError(
      `the CloudFormation function ${fn} is not supported in HOT templates; use the HOT functions (get_resource, get_attr, list_join...)`,
      fnNode,
    );
  const since = FUNCTION_SINCE[fn]!;
  if (scope.version < since)
    throw new HeatError(
      `${fn} needs heat_template_version ${versionName(since)} or later (this template is ${versionName(scope.version)})`,
      fnNode,
    );
  const arg = () => L.ev(scope, argNode, taint, o) as Value;
  const list = (min: number, max: number, what: string): unknown[] => {
    const a = src.deref(argNode);
    if (!isSeq(a) || a.items.length < min || a.items.length > max)
      throw new HeatError(`${fn} takes a list: ${what}`, argNode ?? fnNode);
    return a.items.map((x) => src.deref(x));
  };
  const text = `{${fn}: ...} at line ${src.pos(fnNode).line}`;
  const heat = (args: Value[]) => {
    if (args.some((x) => isSymbolic(x))) return new Call(`heat:${fn}`, args, text);
    try {
      return callFunction(`heat:${fn}`, args) as Value;
    } catch (e) {
      if (e instanceof FunctionError) throw new HeatError(e.message, argNode ?? fnNode);
      throw e;
    }
  };
  switch (fn) {
    case 'get_param': {
      const a = src.deref(argNode);
      const parts = isSeq(a) ? a.items.map((x) => L.ev(scope, x, taint, o) as Value) : [arg()];
      const [name, ...path] = parts;
      if (typeof name !== 'string')
        throw new HeatError('get_param takes a parameter name (or [NAME, path...])', argNode);
      let v: Value;
      if (name === 'OS::stack_name') v = L.config.name;
      else if (name === 'OS::stack_id') v = stableUuid(`stack:${L.config.file}`);
      else if (name === 'OS::project_id') v = 'stratus';
      else {
        const p = scope.params.get(name);
        if (!p)
          throw new HeatError(
            `unknown parameter ${name}${scope.params.size ? ` (parameters: ${listNames([...scope.params.keys()])})` : ' (the template declares none)'}`,
            argNode,
          );
        if (p.value === undefined) throw new Reported();
        if (p.hidden) taint.sensitive ??= `the hidden parameter ${name}`;
        v = p.value;
      }
      return index(
        v,
        path.map((x) => (typeof x === 'number' ? x : String(x))),
        argNode,
      );
    }
    case 'get_resource': {
      const name = arg();
      if (typeof name !== 'string') throw new HeatError('get_resource takes a resource name', argNode);
      return L.resourceId(scope, name, argNode, taint, o);
    }
    case 'get_attr': {
      const items = list(2, 100, '[RESOURCE, ATTRIBUTE, path...]');
      const [rn, an, ...rest] = items.map((x) => L.ev(scope, x, taint, o) as Value);
      if (typeof rn !== 'string')
        throw new HeatError('get_attr: the first item must be a resource name', items[0]);
      if (typeof an !== 'string')
        throw new HeatError('get_attr: the second item must be an attribute name', items[1]);
      for (const [i, p] of rest.entries())
        if (typeof p !== 'string' && typeof p !== 'number')
          throw new HeatError('get_attr: a path item must be a key or an index', items[i + 2]);
      return L.attr(scope, rn, an, rest as (string | number)[], argNode, taint);
    }
    case 'get_file': {
      const p = arg();
      if (typeof p !== 'string')
        throw new HeatError('get_file takes a path (relative to the template)', argNode);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) && !p.startsWith('file://'))
        throw new HeatError(
          'get_file of a URL is not supported: give a local path (relative to the template)',
          argNode,
        );
      const file = resolve(scope.dir, p.startsWith('file://') ? decodeURIComponent(p.slice(7)) : p);
      try {
        const content = readFileSync(file, 'utf8');
        L.inputs.add(file);
        return content;
      } catch (e) {
        throw new HeatError(
          `get_file: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          argNode,
        );
      }
    }
    case 'str_replace':
    case 'str_replace_strict':
    case 'str_replace_vstr': {
      const a = src.deref(argNode);
      if (!isMap(a)) throw new HeatError(`${fn} takes a map with template and params`, argNode ?? fnNode);
      for (const [k, kn] of src.pairs(a))
        if (k !== 'template' && k !== 'params')
          throw new HeatError(`${fn}: unknown key ${k}; expected template, params`, kn);
      const t = L.ev(scope, src.get(a, 'template'), taint, o) as Value;
      const params = L.ev(scope, src.get(a, 'params'), taint, o) as Value;
      if (!a.has('template') || !a.has('params'))
        throw new HeatError(`${fn} needs template and params`, argNode);
      return heat([t, params]);
    }
    case 'list_join':
    case 'str_split':
    case 'map_merge':
    case 'map_replace':
    case 'digest':
    case 'filter':
    case 'contains':
    case 'equals': {
      const [min, max, usage] = LIST_FUNCTIONS[fn]!;
      const items = list(min, max, usage);
      return heat(items.map((x) => L.ev(scope, x, taint, o) as Value));
    }
    case 'repeat': {
      const a = arg();
      return heat([a]);
    }
    case 'list_concat':
    case 'list_concat_unique': {
      const items = list(1, 100, '[LIST, LIST, ...]').map((x) => L.ev(scope, x, taint, o) as Value);
      const out: Value[] = [];
      items.forEach((l, i) => {
        if (!Array.isArray(l))
          throw new HeatError(`${fn}: argument ${i + 1} must be a list known before apply`, argNode);
        for (const x of l)
          if (fn === 'list_concat' || !out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
      });
      return out;
    }
    case 'not': {
      return !L.bool(scope, argNode, fn);
    }
    case 'and':
    case 'or': {
      const items = list(2, 100, '[CONDITION, CONDITION, ...] (at least two)');
      const vals = items.map((x) => L.bool(scope, x, fn));
      return fn === 'and' ? vals.every(Boolean) : vals.some(Boolean);
    }
    case 'if': {
      const items = list(2, 3, '[CONDITION, VALUE_IF_TRUE, VALUE_IF_FALSE]');
      const c = L.bool(scope, items[0], fn);
      if (c) return L.ev(scope, items[1], taint, o);
      return items.length === 3 ? L.ev(scope, items[2], taint, o) : REMOVED;
    }
    case 'yaql':
      throw new HeatError(
        'yaql expressions are not supported: use the HOT functions (list_join, map_merge, repeat, if...)',
        fnNode,
      );
    case 'resource_facade':
      throw new HeatError(
        'resource_facade is not supported: pass the values to the provider template as properties',
        fnNode,
      );
    case 'make_url':
      throw new HeatError('make_url is not supported: build the URL with list_join or str_replace', fnNode);
  }
  throw new HeatError(`unknown function ${fn}`, fnNode);
}

/** get_resource: a Stratus resource's id, or what a Heat type gives (a config's text, a random string...). */
export function resourceId(
  L: HeatLoader,
  scope: TemplateScope,
  name: string,
  node: unknown,
  taint: Taint,
  o: { condition?: boolean },
): Value {
  const decl = L.declOf(scope, name, node, o);
  if (!decl.enabled) return null;
  const full = `${scope.prefix}${name}`;
  if (decl.kind === 'native') return new Ref(full, [], `{get_resource: ${full}}`);
  // A resource of a type Stratus lacks was reported: a reference to it keeps what uses it checkable.
  if (decl.kind === 'missing' || decl.kind === 'bad') return new Ref(full, [], `{get_resource: ${full}}`);
  if (decl.kind === 'group')
    throw new HeatError(
      `${name} is a ResourceGroup: use {get_attr: [${name}, refs]} for its members' ids`,
      node,
    );
  const v = L.declValue(scope, decl, node);
  const t = (v as { taint?: Taint }).taint;
  if (t?.sensitive) taint.sensitive ??= t.sensitive;
  return v.id;
}

export function attr(
  L: HeatLoader,
  scope: TemplateScope,
  name: string,
  attr: string,
  path: (string | number)[],
  node: unknown,
  taint: Taint,
): Value {
  const decl = L.declOf(scope, name, node, {});
  if (!decl.enabled) return null;
  const full = `${scope.prefix}${name}`;
  if (decl.kind === 'missing') return L.nativeAttr(full, decl.mapping!, decl.type, attr, path, node);
  if (decl.kind === 'bad') throw new Reported();
  if (decl.kind === 'native') return L.nativeAttr(full, decl.mapping!, decl.type, attr, path, node);
  const v = L.declValue(scope, decl, node);
  const t = (v as { taint?: Taint }).taint;
  if (t?.sensitive) taint.sensitive ??= t.sensitive;
  const got = v.attrs(attr, path, node);
  if (got instanceof Tainted) {
    taint.sensitive ??= got.taint.sensitive;
    return got.value;
  }
  return got;
}

export function declOf(
  _L: HeatLoader,
  scope: TemplateScope,
  name: string,
  node: unknown,
  o: { condition?: boolean },
): Decl {
  if (o.condition)
    throw new HeatError('a condition must be known before apply: it may use parameters, not resources', node);
  const decl = scope.decls.get(name);
  if (!decl)
    throw new HeatError(
      `unknown resource ${name}${scope.decls.size ? ` (resources: ${listNames([...scope.decls.keys()])})` : ''}`,
      node,
    );
  return decl;
}

export function declValue(
  L: HeatLoader,
  scope: TemplateScope,
  decl: Decl,
  node: unknown,
): NonNullable<Decl['value']> {
  if (decl.realizing)
    throw new HeatError(`${decl.name} refers to itself (through the values it is made of)`, node);
  L.realize(scope, decl);
  if (!decl.value) throw new Reported();
  return decl.value;
}
