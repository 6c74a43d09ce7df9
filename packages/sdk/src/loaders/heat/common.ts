/**
 * What the parts of the HOT loader share: the errors evaluation throws, a template's scope (its
 * parameters, conditions, declarations and outputs), the declarations' shapes, the loader's limits and
 * small helpers over values.
 */
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import type { SourceRange } from '../../diagnostics/index.js';
import { Call, Ref, Template, type Value } from '../../engine/expr.js';
import type { Taint } from '../../expand/evaluate.js';
import type { Constraint, ParameterType } from './parameters.js';
import type { HeatTypeMapping } from './types.js';
import type { YamlSource } from './yaml-source.js';

/** A problem at a node, thrown to stop evaluating what needed the value. */
export class HeatError extends Error {
  constructor(
    message: string,
    readonly node: unknown,
  ) {
    super(message);
  }
}
/** Thrown after a problem was reported (or for a resource already reported), to stop quietly. */
export class Reported extends Error {}

/** The value of an `if` whose false branch is left out: the property or item is dropped. */
export const REMOVED = Symbol('removed');
export type Ev = Value | typeof REMOVED;

/** A declared dependency (depends_on), in the template that declares it. */
export interface Dep {
  name: string;
  node: unknown;
  scope: TemplateScope;
}

/** A parameter with its value. */
export interface Param {
  name: string;
  type: ParameterType;
  value?: Value;
  hidden: boolean;
  /** `immutable: true`: a stack update may not change the value (checked at plan, engine/parameters.ts). */
  immutable: boolean;
  constraints: Constraint[];
  node: unknown;
  /** Where its value was given, for messages about the value. */
  valueAt?: SourceRange;
}

export type Kind = 'native' | 'missing' | 'heat' | 'group' | 'nested' | 'bad';

/** A resource as declared in one template. */
export interface Decl {
  name: string;
  node: unknown;
  /** The Heat type after the resource_registry (a Heat type name, or a template file). */
  type: string;
  kind: Kind;
  mapping?: HeatTypeMapping;
  /** A nested template file, for kind nested. */
  file?: string;
  enabled: boolean;
  /** Memoized results of realizing the resource (heat values, groups, nested stacks). */
  value?: {
    id: Value;
    attrs: (attr: string, path: (string | number)[], node: unknown) => Value;
    taint?: Taint;
  };
  realizing?: boolean;
  /** Realizing it failed (and was reported): what needs it stops quietly. */
  failed?: boolean;
}

/**
 * The values a provider (nested) template's parameters are given: its parent's properties (evaluated,
 * with where each was written), their sensitivity, and where the parent's resource is.
 */
export interface Given {
  values: Map<string, { value: Value; node: unknown }>;
  taint: Taint;
  at: SourceRange;
  src: YamlSource;
}

/** One template being loaded: the root template or a nested (provider) template. */
export class TemplateScope {
  params = new Map<string, Param>();
  conditions = new Map<string, { node: unknown; value?: boolean; evaluating?: boolean }>();
  decls = new Map<string, Decl>();
  outputs = new Map<string, { node: unknown; value?: Value; taint?: Taint; description?: string }>();
  constructor(
    readonly src: YamlSource,
    readonly version: number,
    /** Prefix of its resources' names in the stack (`''` for the root, `parent-` for a nested one). */
    readonly prefix: string,
    readonly depth: number,
  ) {}
  get dir(): string {
    return dirname(this.src.file);
  }
}

/** Most aliases one load evaluates through, and how deep values may nest (guards against alias bombs). */
export const MAX_VISITS = 10_000;
export const MAX_EV_DEPTH = 200;
/** Most members of one ResourceGroup. */
export const MAX_GROUP = 10_000;

/** How deep provider templates may nest (Heat's default max_nested_stack_depth is 5). */
export const MAX_DEPTH = 5;

/** A value with the sensitivity of where it came from (a random string's attributes). */
export class Tainted {
  constructor(
    readonly value: Value,
    readonly taint: Taint,
  ) {}
}

export function withTaint(v: Value, t: Taint): Value {
  return (t.sensitive ? new Tainted(v, t) : v) as Value;
}

export const isPlainMap = (v: unknown): v is Record<string, Value> =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  !(v instanceof Ref) &&
  !(v instanceof Call) &&
  !(v instanceof Template);

/** `v` at `path`: plain values indexed now; a reference extended; anything else indexed at apply. */
export function index(v: Value, path: readonly (string | number)[], node: unknown): Value {
  let cur = v;
  for (const seg of path) {
    if (cur instanceof Ref) cur = new Ref(cur.resource, [...cur.path, seg], `${cur.text}.${seg}`);
    else if (cur instanceof Call || cur instanceof Template) cur = new Call('index', [cur, seg], `[${seg}]`);
    else if (Array.isArray(cur)) {
      const i = typeof seg === 'number' ? seg : /^\d+$/.test(seg) ? Number(seg) : Number.NaN;
      if (!Number.isInteger(i) || i < 0 || i >= cur.length)
        throw new HeatError(`index ${seg} is out of range: the list has ${cur.length} items`, node);
      cur = cur[i]!;
    } else if (isPlainMap(cur)) {
      const k = String(seg);
      if (!Object.hasOwn(cur, k)) throw new HeatError(`the map has no key ${JSON.stringify(k)}`, node);
      cur = cur[k]!;
    } else
      throw new HeatError(
        `cannot take ${JSON.stringify(seg)} of ${cur === null ? 'null' : typeof cur}`,
        node,
      );
  }
  return cur;
}

/** A UUID-shaped id derived from `s` (for OS::stack_id, stable across loads). */
export function stableUuid(s: string): string {
  const h = createHash('sha256').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
