/**
 * The HOT loader: a Heat Orchestration Template (with its environment files and `-P` values) in, the
 * same StackConfig a stack file gives out, so `stratus plan template.yaml -e env.yaml` plans and
 * applies it with the one engine. Heat's resource types map onto Stratus types through the table in
 * types.ts; Heat's own types (Value, RandomString, CloudConfig, SoftwareConfig, MultipartMime, None)
 * are computed here; a ResourceGroup becomes instances `group[0]`, `group[1]`... as `count` makes; a
 * provider template (a type mapped to a local file by the environment's resource_registry, or a file
 * as the type) becomes its resources named `parent-child`. Intrinsic functions run here on what is
 * known at load, and on values known only after apply they stay calls the engine makes then
 * (engine/heat-functions.ts), as stack-file functions do. Every problem is a diagnostic at its
 * file:line:column; what Stratus does not do (yaql, software deployments, update_policy...) is named.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { attributes, formatPath, isResourceType, type ResourceType, schemas } from '@stratus/model';
import { Diagnostics, type SourceRange } from '../../diagnostics/index.js';
import { listNames } from '../../diagnostics/limits.js';
import type { Locator, OutputConfig, ResourceConfig, StackConfig } from '../../engine/config.js';
import { Call, Ref, Template, type Value } from '../../engine/expr.js';
import { callFunction, FunctionError } from '../../engine/functions.js';
import { normalizeOptions, normalizeValues } from '../../engine/normalize.js';
import { instanceName } from '../../expand/address.js';
import { isSymbolic, type Taint } from '../../expand/evaluate.js';
import { type Environment, emptyEnvironment, isTemplateTarget, readEnvironments } from './environment.js';
import {
  type Constraint,
  CUSTOM_CONSTRAINTS,
  checkConstraint,
  convertParameter,
  PARAMETER_TYPES,
  type ParameterType,
} from './parameters.js';
import {
  HEAT_TYPES,
  type HeatTypeMapping,
  isAvailable,
  type MapContext,
  notYet,
  UNSUPPORTED_FEATURES,
} from './types.js';
import { CONDITIONS_SINCE, FUNCTION_SINCE, VERSIONS, versionIndex, versionName } from './versions.js';
import { isAlias, isMap, isScalar, isSeq, YamlSource } from './yaml-source.js';

/** Options of {@link loadHeatFile}. */
export interface HeatLoadOptions {
  /** Environment files (`-e`), in order; a later one wins. */
  environments?: readonly string[];
  /** Parameter values given as text (`-P NAME=VALUE`), winning over environment files. */
  parameters?: ReadonlyMap<string, string>;
  /** A parameter without a value is no error: what needs it is left out (commands that only read state). */
  lenient?: boolean;
}

/** Result of loading a template: the config when it could be made, and every diagnostic. */
export interface HeatLoadResult {
  config?: StackConfig;
  diagnostics: Diagnostics;
}

export { isHeatTemplateFile, isHeatTemplateText } from './detect.js';

const TOP_KEYS = new Set([
  'heat_template_version',
  'description',
  'parameter_groups',
  'parameters',
  'resources',
  'outputs',
  'conditions',
]);
const RESOURCE_KEYS = new Set([
  'type',
  'properties',
  'metadata',
  'depends_on',
  'update_policy',
  'deletion_policy',
  'external_id',
  'condition',
]);
const PARAM_KEYS = new Set([
  'type',
  'label',
  'description',
  'default',
  'hidden',
  'constraints',
  'immutable',
  'tags',
]);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** The types Heat implements itself, computed by the loader. */
const HEAT_OWN = new Set([
  'OS::Heat::Value',
  'OS::Heat::None',
  'OS::Heat::RandomString',
  'OS::Heat::CloudConfig',
  'OS::Heat::SoftwareConfig',
  'OS::Heat::MultipartMime',
  'OS::Heat::ResourceGroup',
]);

/** A problem at a node, thrown to stop evaluating what needed the value. */
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

class HeatError extends Error {
  constructor(
    message: string,
    readonly node: unknown,
  ) {
    super(message);
  }
}
/** Thrown after a problem was reported (or for a resource already reported), to stop quietly. */
class Reported extends Error {}

/** The value of an `if` whose false branch is left out: the property or item is dropped. */
const REMOVED = Symbol('removed');
type Ev = Value | typeof REMOVED;

/** A declared dependency (depends_on), in the template that declares it. */
interface Dep {
  name: string;
  node: unknown;
  scope: TemplateScope;
}

/** A parameter with its value. */
interface Param {
  name: string;
  type: ParameterType;
  value?: Value;
  hidden: boolean;
  constraints: Constraint[];
  node: unknown;
  /** Where its value was given, for messages about the value. */
  valueAt?: SourceRange;
}

type Kind = 'native' | 'missing' | 'heat' | 'group' | 'nested' | 'bad';

/** A resource as declared in one template. */
interface Decl {
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

/** One template being loaded: the root template or a nested (provider) template. */
class TemplateScope {
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
const MAX_VISITS = 10_000;
const MAX_EV_DEPTH = 200;
/** Most members of one ResourceGroup. */
const MAX_GROUP = 10_000;

/** How deep provider templates may nest (Heat's default max_nested_stack_depth is 5). */
const MAX_DEPTH = 5;

/** Loads a HOT template file with its environment files and parameter values. */
export function loadHeatFile(path: string, opts: HeatLoadOptions = {}): HeatLoadResult {
  const file = resolve(path);
  const diags = new Diagnostics();
  const src = YamlSource.read(file, diags, 'template');
  if (!src) return { diagnostics: diags };
  return new HeatLoader(diags, opts).load(src);
}

/** Like {@link loadHeatFile}, from text already read; `file` names it (and its directory, relative paths). */
export function loadHeatText(text: string, file: string, opts: HeatLoadOptions = {}): HeatLoadResult {
  const diags = new Diagnostics();
  const src = YamlSource.parse(text, resolve(file), diags);
  if (!src) return { diagnostics: diags };
  return new HeatLoader(diags, opts).load(src);
}

class HeatLoader {
  env: Environment = emptyEnvironment();
  config!: StackConfig;
  /** Every native resource made, with its scope and declared dependencies, to resolve depends_on at the end. */
  made: { rc: ResourceConfig; deps: Dep[] }[] = [];
  /** Stratus names of the native resources each declaration made (groups and nested stacks: all of theirs). */
  members = new Map<Decl, string[]>();
  scopes: TemplateScope[] = [];
  inputs = new Set<string>();
  seed?: Buffer;
  /** Provider templates read so far, by path (undefined: unreadable, already reported). */
  files = new Map<string, YamlSource | undefined>();
  /** Nodes evaluated so far, and the current nesting, against alias bombs and recursive aliases. */
  visits = 0;
  evDepth = 0;

  constructor(
    readonly diags: Diagnostics,
    readonly opts: HeatLoadOptions,
  ) {}

  load(src: YamlSource): HeatLoadResult {
    const file = src.file;
    this.inputs.add(file);
    this.env = readEnvironments(this.opts.environments ?? [], this.diags);
    for (const f of this.env.files) this.inputs.add(f);
    const dir = dirname(file);
    const name =
      basename(file)
        .replace(/\.(ya?ml|json|template)$/i, '')
        .replace(/[^A-Za-z0-9_-]/g, '-') || 'heat';
    this.config = {
      name,
      file,
      dir,
      resources: new Map(),
      invalid: new Set(),
      outputs: new Map(),
      // Several templates often share a directory (a stack and its provider templates): each its own state.
      backend: { type: 'local', path: join(dir, `${name}.stratus.state.json`) },
    };
    const root = this.template(src, '', 0, undefined);
    if (!root) return { diagnostics: this.diags };
    this.checkCustomConstraints(root);
    this.resolveDependencies();
    for (const [name, o] of root.outputs) {
      const v = o.value;
      if (v === undefined) continue;
      const taint = o.taint ?? {};
      const oc: OutputConfig = {
        name,
        value: v,
        // Heat has no output sensitivity: an output made from a hidden parameter or random string is redacted.
        sensitive: Boolean(taint.sensitive),
        description: o.description,
        locate: () => src.locate(root.src.get(root.src.root, 'outputs'), [name]),
      };
      this.config.outputs.set(name, oc);
    }
    this.config.inputs = [...this.inputs];
    return { config: this.config, diagnostics: this.diags };
  }

  // ---------------------------------------------------------------- templates

  /**
   * Loads one template: checks its sections, gives its parameters their values (`given`, for a nested
   * template: its parent's properties), declares and realizes its resources, evaluates its outputs.
   */
  template(
    src: YamlSource,
    prefix: string,
    depth: number,
    given:
      | {
          values: Map<string, { value: Value; node: unknown }>;
          taint: Taint;
          at: SourceRange;
          src: YamlSource;
        }
      | undefined,
  ): TemplateScope | undefined {
    const root = src.root;
    const d = this.diags;
    if (!isMap(root)) {
      d.error('a Heat template must be a mapping with heat_template_version', undefined, src.pos(root));
      return undefined;
    }
    const vnode = src.get(root, 'heat_template_version');
    const vtext = src.js(vnode);
    const version = versionIndex(vtext);
    if (version < 0) {
      d.error(
        `unknown heat_template_version ${JSON.stringify(vtext)}; expected one of ${VERSIONS.map((v) => v.date).join(', ')} or a release name (${VERSIONS.filter(
          (v) => v.name,
        )
          .map((v) => v.name)
          .join(', ')})`,
        'heat_template_version',
        src.pos(vnode ?? root),
      );
      return undefined;
    }
    const scope = new TemplateScope(src, version, prefix, depth);
    this.scopes.push(scope);
    for (const [k, kn] of src.pairs(root))
      if (!TOP_KEYS.has(k))
        d.error(`unknown section; expected one of ${[...TOP_KEYS].join(', ')}`, k, src.pos(kn));

    this.parameters(scope, given);
    this.parameterGroups(scope);
    const conds = src.get(root, 'conditions');
    if (conds !== undefined && conds !== null) {
      if (version < CONDITIONS_SINCE)
        d.error(
          `the conditions section needs heat_template_version ${versionName(CONDITIONS_SINCE)} or later`,
          'conditions',
          src.pos(src.keyNode(root, 'conditions')),
        );
      else if (!isMap(conds))
        d.error('must be a mapping of condition names to conditions', 'conditions', src.pos(conds));
      else for (const [name, , node] of src.pairs(conds)) scope.conditions.set(name, { node });
      for (const name of scope.conditions.keys()) {
        try {
          this.condition(scope, name, undefined);
        } catch (e) {
          this.report(e, scope, `conditions.${name}`);
        }
      }
    }

    const res = src.get(root, 'resources');
    if (res !== undefined && res !== null && !isMap(res))
      d.error('must be a mapping of resource names to resources', 'resources', src.pos(res));
    else if (isMap(res)) for (const [name, kn, node] of src.pairs(res)) this.declare(scope, name, kn, node);

    for (const decl of scope.decls.values()) this.realize(scope, decl);

    const outs = src.get(root, 'outputs');
    if (outs !== undefined && outs !== null && !isMap(outs))
      d.error('must be a mapping', 'outputs', src.pos(outs));
    else if (isMap(outs)) {
      for (const [name, kn, node] of src.pairs(outs)) {
        const field = `outputs.${name}`;
        if (!isMap(node)) {
          d.error('an output must be a mapping with value (and description, condition)', field, src.pos(kn));
          continue;
        }
        const entry: { node: unknown; value?: Value; taint?: Taint; description?: string } = { node };
        scope.outputs.set(name, entry);
        for (const [k, kk] of src.pairs(node))
          if (k !== 'value' && k !== 'description' && k !== 'condition')
            d.error('unknown key; expected value, description, condition', `${field}.${k}`, src.pos(kk));
        const desc = src.js(src.get(node, 'description'));
        if (typeof desc === 'string') entry.description = desc;
        try {
          const cn = src.get(node, 'condition');
          if (cn !== undefined && !this.conditionValue(scope, cn)) {
            entry.value = null;
            continue;
          }
          if (!node.has('value')) {
            d.error('is required', `${field}.value`, src.pos(kn));
            continue;
          }
          const taint: Taint = {};
          const v = this.ev(scope, src.get(node, 'value'), taint, {});
          entry.value = v === REMOVED ? null : v;
          entry.taint = taint;
        } catch (e) {
          this.report(e, scope, `${field}.value`);
        }
      }
    }
    return scope;
  }

  /** Reports an error thrown while evaluating (Reported ones were reported already). */
  report(e: unknown, scope: TemplateScope, field: string): void {
    if (e instanceof HeatError) this.diags.error(e.message, field, scope.src.pos(e.node));
    else if (!(e instanceof Reported)) throw e;
  }

  // ---------------------------------------------------------------- parameters

  parameters(
    scope: TemplateScope,
    given:
      | {
          values: Map<string, { value: Value; node: unknown }>;
          taint: Taint;
          at: SourceRange;
          src: YamlSource;
        }
      | undefined,
  ): void {
    const { src } = scope;
    const d = this.diags;
    const node = src.get(src.root, 'parameters');
    if (node === undefined || node === null) {
      if (!given) this.unknownInputs(scope);
      else
        for (const [k, g] of given.values)
          d.error(
            `the template ${src.file} has no parameter ${k}`,
            `properties.${k}`,
            this.posOf(g.node, given),
          );
      return;
    }
    if (!isMap(node)) {
      d.error('must be a mapping of parameter names to declarations', 'parameters', src.pos(node));
      return;
    }
    for (const [name, kn, decl] of src.pairs(node)) {
      const field = `parameters.${name}`;
      if (!isMap(decl)) {
        d.error('a parameter must be a mapping with type (and default, constraints...)', field, src.pos(kn));
        continue;
      }
      for (const [k, kk] of src.pairs(decl))
        if (!PARAM_KEYS.has(k))
          d.error(`unknown key; expected one of ${[...PARAM_KEYS].join(', ')}`, `${field}.${k}`, src.pos(kk));
      const type = src.js(src.get(decl, 'type'));
      if (!PARAMETER_TYPES.includes(type as ParameterType)) {
        d.error(
          type === undefined
            ? 'is required'
            : `unknown parameter type ${JSON.stringify(type)}; expected one of ${PARAMETER_TYPES.join(', ')}`,
          `${field}.type`,
          src.pos(src.keyNode(decl, 'type') ?? kn),
        );
        continue;
      }
      const hidden = src.js(src.get(decl, 'hidden'));
      const p: Param = {
        name,
        type: type as ParameterType,
        hidden: hidden === true,
        constraints: [],
        node: kn,
      };
      if (hidden !== undefined && typeof hidden !== 'boolean')
        d.error('must be true or false', `${field}.hidden`, src.pos(src.get(decl, 'hidden')));
      const cs = src.get(decl, 'constraints');
      if (cs !== undefined && !isSeq(cs))
        d.error('must be a list of constraints', `${field}.constraints`, src.pos(cs));
      else if (isSeq(cs))
        cs.items.forEach((item, i) => {
          const c = src.deref(item);
          if (!isMap(c)) {
            d.error(
              'a constraint is a mapping such as {range: {min: 1}}',
              `${field}.constraints[${i}]`,
              src.pos(c),
            );
            return;
          }
          const kinds = src.pairs(c).filter(([k]) => k !== 'description');
          if (kinds.length !== 1) {
            d.error(
              'a constraint has one of range, length, allowed_values, allowed_pattern, custom_constraint, modulo (and a description)',
              `${field}.constraints[${i}]`,
              src.pos(c),
            );
            return;
          }
          const [kind, kindNode, specNode] = kinds[0]!;
          if (
            !['range', 'length', 'allowed_values', 'allowed_pattern', 'custom_constraint', 'modulo'].includes(
              kind,
            )
          ) {
            d.error(
              `unknown constraint ${kind}; expected range, length, allowed_values, allowed_pattern, custom_constraint, modulo`,
              `${field}.constraints[${i}]`,
              src.pos(kindNode),
            );
            return;
          }
          const desc = src.js(src.get(c, 'description'));
          p.constraints.push({
            kind: kind as Constraint['kind'],
            spec: src.js(specNode),
            ...(typeof desc === 'string' ? { description: desc } : {}),
            offset: (kindNode as { range?: [number] } | null)?.range?.[0],
          });
        });
      // The value: given (nested) or -P, then the environment's parameters, then parameter_defaults, then the default.
      let raw: { value: Value; at?: SourceRange; from?: string } | undefined;
      if (given) {
        const g = given.values.get(name);
        if (g) raw = { value: g.value, at: this.posOf(g.node, given) };
      } else {
        const cli = this.opts.parameters?.get(name);
        const envP = this.env.parameters.get(name);
        if (cli !== undefined) raw = { value: cli, from: ` (from -P ${name}=...)` };
        else if (envP) raw = { value: envP.value as Value, at: envP.range };
      }
      if (!raw) {
        const pd = this.env.parameterDefaults.get(name);
        if (pd) raw = { value: pd.value as Value, at: pd.range };
      }
      if (!raw && decl.has('default')) {
        const dv = src.js(src.get(decl, 'default'));
        if (dv !== null && dv !== undefined)
          raw = { value: dv as Value, at: src.pos(src.keyNode(decl, 'default')) };
      }
      if (raw) {
        p.valueAt = raw.at ?? src.pos(kn);
        const c = convertParameter(p.type, raw.value);
        if ('error' in c) {
          d.error(
            `the value of parameter ${name}${raw.from ?? ''} ${p.hidden ? 'is not valid (hidden: not shown)' : c.error}`,
            field,
            p.valueAt,
          );
        } else {
          p.value = c.value;
          let ok = true;
          for (const con of p.constraints) {
            const problem = checkConstraint(con, p.type, c.value);
            if (problem) {
              ok = false;
              d.error(`parameter ${name}${raw.from ?? ''}: ${problem}`, field, p.valueAt);
            }
          }
          if (!ok) p.value = undefined;
        }
      } else if (!this.opts.lenient) {
        d.error(
          given
            ? `parameter ${name} of ${basename(src.file)} has no value: give it as a property, or a default`
            : `parameter ${name} has no value: give -P ${name}=VALUE, or set it in an environment file's parameters`,
          field,
          given ? given.at : src.pos(kn),
        );
      }
      scope.params.set(name, p);
    }
    if (given) {
      for (const [k, g] of given.values)
        if (!scope.params.has(k))
          d.error(
            `the template ${basename(src.file)} has no parameter ${k}`,
            `properties.${k}`,
            this.posOf(g.node, given),
          );
    } else this.unknownInputs(scope);
  }

  /** Values given for parameters the top-level template does not declare (as Heat, an error). */
  unknownInputs(scope: TemplateScope): void {
    const names = [...scope.params.keys()];
    const known = names.length ? ` (parameters: ${listNames(names)})` : ' (it declares none)';
    for (const k of this.opts.parameters?.keys() ?? [])
      if (!scope.params.has(k))
        this.diags.error(
          `-P ${k}: the template has no parameter ${k}${known}`,
          `parameters.${k}`,
          scope.src.pos(scope.src.root),
        );
    for (const [k, v] of this.env.parameters)
      if (!scope.params.has(k))
        this.diags.error(`the template has no parameter ${k}${known}`, `parameters.${k}`, v.range);
  }

  /** Where a node of the parent template is (a property given to a provider template), else `fallback`. */
  posOf(node: unknown, given: { src: YamlSource; at: SourceRange }): SourceRange {
    return (node as { range?: unknown } | null)?.range !== undefined ? given.src.pos(node) : given.at;
  }

  parameterGroups(scope: TemplateScope): void {
    const { src } = scope;
    const groups = src.get(src.root, 'parameter_groups');
    if (groups === undefined || groups === null) return;
    if (!isSeq(groups)) {
      this.diags.error(
        'must be a list of groups (label, description, parameters)',
        'parameter_groups',
        src.pos(groups),
      );
      return;
    }
    const seen = new Map<string, number>();
    groups.items.forEach((g0, i) => {
      const g = src.deref(g0);
      const field = `parameter_groups[${i}]`;
      if (!isMap(g)) {
        this.diags.error('a group is a mapping with label, description and parameters', field, src.pos(g));
        return;
      }
      for (const [k, kk] of src.pairs(g))
        if (k !== 'label' && k !== 'description' && k !== 'parameters')
          this.diags.error(
            'unknown key; expected label, description, parameters',
            `${field}.${k}`,
            src.pos(kk),
          );
      const ps = src.get(g, 'parameters');
      if (!isSeq(ps)) {
        this.diags.error('must be a list of parameter names', `${field}.parameters`, src.pos(ps ?? g));
        return;
      }
      ps.items.forEach((p0, j) => {
        const p = src.deref(p0);
        const name = src.js(p);
        if (typeof name !== 'string' || !scope.params.has(name))
          this.diags.error(
            `names no parameter of the template${typeof name === 'string' ? `: ${name}` : ''}`,
            `${field}.parameters[${j}]`,
            src.pos(p),
          );
        else if (seen.has(name))
          this.diags.error(
            `parameter ${name} is already in parameter_groups[${seen.get(name)}]: a parameter belongs to one group`,
            `${field}.parameters[${j}]`,
            src.pos(p),
          );
        else seen.set(name, i);
      });
    });
  }

  // ---------------------------------------------------------------- conditions

  /** The value of the named condition (evaluated once). */
  condition(scope: TemplateScope, name: string, from: unknown): boolean {
    const c = scope.conditions.get(name);
    if (!c)
      throw new HeatError(
        `unknown condition ${name}${scope.conditions.size ? ` (conditions: ${listNames([...scope.conditions.keys()])})` : ' (the template declares no conditions)'}`,
        from,
      );
    if (c.value !== undefined) return c.value;
    if (c.evaluating) throw new HeatError(`condition ${name} depends on itself`, from ?? c.node);
    c.evaluating = true;
    try {
      c.value = this.conditionValue(scope, c.node);
      return c.value;
    } finally {
      c.evaluating = false;
    }
  }

  /** A condition: a boolean, a condition's name, or a condition function (equals, not, and, or...). */
  conditionValue(scope: TemplateScope, node: unknown): boolean {
    const n = scope.src.deref(node);
    if (isScalar(n) && typeof n.value === 'string') return this.condition(scope, n.value, n);
    const v = this.ev(scope, n, {}, { condition: true });
    if (isSymbolic(v as Value))
      throw new HeatError('a condition must be known before apply: it may use parameters, not resources', n);
    if (typeof v !== 'boolean')
      throw new HeatError('a condition must be true or false (or a condition function)', n);
    return v;
  }

  // ---------------------------------------------------------------- resources

  /** The kind of a (registry-resolved) type. */
  resolveType(
    scope: TemplateScope,
    written: string,
    at: unknown,
  ): { type: string; kind: Kind; file?: string } {
    let type = written;
    for (let i = 0; i < 10; i++) {
      const r = this.env.registry.get(type);
      if (!r) break;
      if (r.file) return { type: r.target, kind: 'nested', file: r.target };
      if (r.target === type) break;
      type = r.target;
    }
    if (isTemplateTarget(type)) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(type) && !type.startsWith('file://'))
        throw new HeatError('templates from URLs are not supported: give a local file', at);
      const p = type.startsWith('file://') ? decodeURIComponent(type.slice(7)) : type;
      const file = isAbsolute(p) ? p : resolve(scope.dir, p);
      return { type: file, kind: 'nested', file };
    }
    if (HEAT_OWN.has(type)) return { type, kind: type === 'OS::Heat::ResourceGroup' ? 'group' : 'heat' };
    const m = HEAT_TYPES[type];
    if (m) return { type, kind: isAvailable(m) ? 'native' : 'missing' };
    return { type, kind: 'bad' };
  }

  /** Declares one resource of a template: checks its keys and type, evaluates its condition. */
  declare(scope: TemplateScope, name: string, keyNode: unknown, node: unknown): void {
    const { src } = scope;
    const d = this.diags;
    const field = `resources.${name}`;
    const decl: Decl = { name, node, type: '', kind: 'bad', enabled: true };
    scope.decls.set(name, decl);
    if (!NAME_RE.test(name)) {
      d.error(
        'resource names use letters, digits, `_` and `-`, starting with a letter or `_` (Stratus addresses)',
        field,
        src.pos(keyNode),
      );
      return;
    }
    if (!isMap(node)) {
      d.error('a resource must be a mapping with type (and properties)', field, src.pos(keyNode));
      return;
    }
    for (const [k, kk] of src.pairs(node))
      if (!RESOURCE_KEYS.has(k))
        d.error(
          `unknown key; expected one of ${[...RESOURCE_KEYS].join(', ')}`,
          `${field}.${k}`,
          src.pos(kk),
        );
    const typeNode = src.get(node, 'type');
    const written = src.js(typeNode);
    if (typeof written !== 'string') {
      d.error(
        'is required: a resource type such as OS::Nova::Server',
        `${field}.type`,
        src.pos(typeNode ?? keyNode),
      );
      return;
    }
    try {
      const t = this.resolveType(scope, written, typeNode);
      decl.type = t.type;
      decl.kind = t.kind;
      if (t.file) decl.file = t.file;
      if (t.kind === 'native' || t.kind === 'missing') decl.mapping = HEAT_TYPES[t.type];
    } catch (e) {
      this.report(e, scope, `${field}.type`);
      return;
    }
    const typeAt = src.pos(typeNode);
    if (decl.kind === 'missing')
      d.error(
        `${notYet(decl.type)} (Stratus has no ${decl.mapping!.stratus} type yet)`,
        `${field}.type`,
        typeAt,
      );
    else if (decl.kind === 'bad') {
      const why = UNSUPPORTED_FEATURES[decl.type];
      d.error(
        why
          ? `${decl.type}: ${why}`
          : `unknown resource type ${decl.type}; supported: ${[...Object.keys(HEAT_TYPES).filter((k) => isAvailable(HEAT_TYPES[k]!)), ...HEAT_OWN].sort().join(', ')}`,
        `${field}.type`,
        typeAt,
      );
    }
    const up = src.keyNode(node, 'update_policy');
    if (up)
      d.error(
        'update_policy is not supported: Stratus plans updates from the diff (rolling updates and batches are not done)',
        `${field}.update_policy`,
        src.pos(up),
      );
    const ext = src.keyNode(node, 'external_id');
    if (ext)
      d.error(
        'external_id is not supported: adopt existing objects with `stratus import`',
        `${field}.external_id`,
        src.pos(ext),
      );
    const cn = src.get(node, 'condition');
    if (cn !== undefined) {
      if (scope.version < CONDITIONS_SINCE)
        d.error(
          `condition needs heat_template_version ${versionName(CONDITIONS_SINCE)} or later`,
          `${field}.condition`,
          src.pos(src.keyNode(node, 'condition')),
        );
      else
        try {
          decl.enabled = this.conditionValue(scope, cn);
        } catch (e) {
          this.report(e, scope, `${field}.condition`);
        }
    }
    if (decl.kind === 'missing' || decl.kind === 'bad') this.config.invalid!.add(`${scope.prefix}${name}`);
  }

  /** Makes a declared resource what it becomes: Stratus resources, a computed value, a group, a nested stack. */
  realize(scope: TemplateScope, decl: Decl): void {
    if (decl.value || decl.realizing || decl.failed || !decl.enabled) return;
    if (decl.kind === 'native') {
      if (this.members.has(decl)) return;
      const name = `${scope.prefix}${decl.name}`;
      this.members.set(decl, [name]);
      this.nativeResource(scope, decl, name, scope.src.get(decl.node, 'properties'), [], undefined);
      return;
    }
    if (decl.kind !== 'heat' && decl.kind !== 'group' && decl.kind !== 'nested') return;
    decl.realizing = true;
    try {
      if (decl.kind === 'heat') decl.value = this.heatResource(scope, decl);
      else if (decl.kind === 'group') decl.value = this.group(scope, decl);
      else
        decl.value = this.nested(
          scope,
          decl,
          decl.file!,
          `${scope.prefix}${decl.name}`,
          scope.src.get(decl.node, 'properties'),
          [],
          [],
        );
    } catch (e) {
      decl.failed = true;
      this.report(e, scope, `resources.${decl.name}`);
      this.config.invalid!.add(`${scope.prefix}${decl.name}`);
    } finally {
      decl.realizing = false;
    }
  }

  /** The properties of a resource, evaluated, with the keys whose value is sensitive. */
  properties(
    scope: TemplateScope,
    decl: Decl,
    propsNode: unknown,
    subs: [string, string][],
    field: string,
  ): {
    values: Map<string, { value: Value; node: unknown; key: unknown }>;
    sensitive: Set<string>;
    taint: Taint;
    ok: boolean;
  } {
    const { src } = scope;
    const values = new Map<string, { value: Value; node: unknown; key: unknown }>();
    const sensitive = new Set<string>();
    const all: Taint = {};
    let ok = true;
    if (propsNode === undefined || propsNode === null) return { values, sensitive, taint: all, ok };
    if (!isMap(propsNode)) {
      this.diags.error('must be a mapping', `${field}.properties`, src.pos(propsNode));
      return { values, sensitive, taint: all, ok: false };
    }
    for (const [k, kn, vn] of src.pairs(propsNode)) {
      const taint: Taint = {};
      try {
        const v = this.ev(scope, vn, taint, { subs });
        if (v !== REMOVED) values.set(k, { value: v, node: vn, key: kn });
        if (taint.sensitive) {
          sensitive.add(k);
          all.sensitive ??= taint.sensitive;
        }
      } catch (e) {
        ok = false;
        this.report(e, scope, `${field}.properties.${k}`);
      }
    }
    void decl;
    return { values, sensitive, taint: all, ok };
  }

  /** A Heat resource mapped onto a Stratus resource, added to the config as `name`. */
  nativeResource(
    scope: TemplateScope,
    decl: Decl,
    name: string,
    propsNode: unknown,
    subs: [string, string][],
    defNode: unknown,
    defaultName = name,
  ): void {
    const { src } = scope;
    const field = `resources.${decl.name}`;
    const mapping = decl.mapping!;
    const type = mapping.stratus as ResourceType;
    const { values, sensitive, ok } = this.properties(scope, decl, propsNode, subs, field);
    const declNode = defNode ?? decl.node;
    let good = ok;
    const heat: Record<string, Value> = {};
    for (const [k, v] of values) heat[k] = v.value;
    const inputs = new Set(
      attributes(schemas[type])
        .filter((a) => a.input)
        .map((a) => a.name),
    );
    const out: Record<string, Value> = {};
    const toHeat = new Map<string, string>();
    const at = (path: (string | number)[]) =>
      src.locate(propsNode, path) ?? src.pos(src.keyNode(declNode, 'type'));
    const propField = (path: (string | number)[]) =>
      path.length ? `${field}.properties.${formatPath(path)}` : `${field}.properties`;
    const ctx: MapContext = {
      heatType: decl.type,
      lookup: (t, v, path) => this.lookup(scope, t, v, path, at, field),
      error: (message, path) => {
        good = false;
        this.diags.error(message, propField(path), at(path));
      },
      warn: (message, path) => this.diags.warning(message, propField(path), at(path)),
      networkNames: () => this.networkNames(),
      serverOfPort: (port) => this.serverOfPort(port),
    };
    for (const [k, v] of Object.entries(heat)) {
      const rule = mapping.properties[k];
      if (!rule) {
        ctx.error(
          `unknown property of ${decl.type}; properties: ${listNames(Object.keys(mapping.properties))}`,
          [k],
        );
        continue;
      }
      // A null property is one left out, in Heat.
      if (v === null) continue;
      const quiet = rule.quiet?.some((q) => JSON.stringify(q) === JSON.stringify(v));
      if (rule.unsupported) {
        if (!quiet) ctx.error(rule.unsupported, [k]);
        continue;
      }
      if (rule.ignore) {
        if (!quiet) ctx.warn(`ignored: ${rule.ignore}`, [k]);
        continue;
      }
      if (!rule.to) continue;
      if (!inputs.has(rule.to)) {
        const empty = (Array.isArray(v) && v.length === 0) || (isPlainMap(v) && Object.keys(v).length === 0);
        if (quiet || empty) continue;
        // Security groups ignored would open what the template closes: an error, not a warning.
        if (rule.lookup && !isResourceType(rule.lookup)) ctx.lookup(rule.lookup, v, [k]);
        else ctx.warn(`ignored: Stratus's ${type} has no ${rule.to} yet`, [k]);
        continue;
      }
      let x: Value | undefined = rule.convert ? rule.convert(v, ctx, [k]) : v;
      if (x !== undefined && rule.lookup) {
        if (Array.isArray(x)) {
          const list: Value[] = [];
          x.forEach((item, i) => {
            const r = ctx.lookup(rule.lookup!, item, [k, i]);
            if (r !== undefined) list.push(r);
          });
          x = list;
        } else x = ctx.lookup(rule.lookup, x, [k]);
      }
      if (x === undefined) continue;
      out[rule.to] = x;
      toHeat.set(rule.to, k);
    }
    // A property that failed to evaluate was reported: it is not missing as well.
    if (ok)
      for (const req of mapping.required ?? [])
        if (!req.split('|').some((r) => r in heat))
          ctx.error(`property ${req.split('|').join(' or ')} is required for ${decl.type}`, []);
    mapping.finish?.(heat, out, ctx);
    if ('user_data' in heat) toHeat.set('userData', 'user_data');
    this.retain(scope, decl, field);
    if (!good) {
      this.config.invalid!.add(name);
      return;
    }
    const { properties, problems } = normalizeValues(type, defaultName, out, scope.dir);
    const locate: Locator = (path) => {
      if (path[0] === 'properties' && typeof path[1] === 'string') {
        const hk = toHeat.get(path[1]);
        if (hk) return src.locate(propsNode, [hk, ...path.slice(2)]) ?? at([hk]);
      }
      if (path[0] === 'dependsOn') return src.locate(decl.node, ['depends_on', ...path.slice(1)]);
      return src.pos(src.keyNode(declNode, 'type'));
    };
    for (const p of problems) {
      const hk =
        typeof p.path[0] === 'string' ? (toHeat.get(p.path[0]) ?? String(p.path[0])) : String(p.path[0]);
      const sens = sensitive.has(hk);
      this.diags.error(
        sens ? 'the value (sensitive) is not valid here' : p.message,
        `${field}.properties.${formatPath([hk, ...p.path.slice(1)])}`,
        locate(['properties', ...p.path]),
      );
    }
    const opts = normalizeOptions(type, undefined, undefined);
    const lifecycle = { ...opts.lifecycle };
    if (this.retained(scope, decl)) lifecycle.preventDestroy = true;
    const sens = [...sensitive]
      .map((k) => mapping.properties[k]?.to ?? (k === 'user_data' ? 'userData' : undefined))
      .filter((k): k is string => !!k && k in properties);
    const rc: ResourceConfig = {
      name,
      type,
      properties,
      dependsOn: [],
      locate,
      lifecycle,
      timeouts: opts.timeouts,
      ...(sens.length ? { sensitive: [...new Set(sens)].sort() } : {}),
    };
    if (problems.length) this.config.invalid!.add(name);
    else this.config.resources.set(name, rc);
    this.made.push({ rc, deps: this.dependsOn(scope, decl) });
  }

  /** deletion_policy: Retain maps onto preventDestroy (the engine refuses plans destroying it). */
  retained(scope: TemplateScope, decl: Decl): boolean {
    return scope.src.js(scope.src.get(decl.node, 'deletion_policy')) === 'Retain';
  }

  retain(scope: TemplateScope, decl: Decl, field: string): void {
    const { src } = scope;
    const n = src.get(decl.node, 'deletion_policy');
    if (n === undefined) return;
    const v = src.js(n);
    if (v === 'Retain' || v === 'Delete') return;
    if (v === 'Snapshot')
      this.diags.warning(
        'deletion_policy Snapshot is not supported: the resource is deleted without a snapshot',
        `${field}.deletion_policy`,
        src.pos(n),
      );
    else this.diags.error('must be Delete, Retain or Snapshot', `${field}.deletion_policy`, src.pos(n));
  }

  /** The declared depends_on of a resource (a name or a list of names). */
  dependsOn(scope: TemplateScope, decl: Decl): Dep[] {
    const { src } = scope;
    const n = src.get(decl.node, 'depends_on');
    if (n === undefined || n === null) return [];
    if (isScalar(n)) return [{ name: String(n.value), node: n, scope }];
    if (isSeq(n))
      return n.items.map((x) => src.deref(x)).map((x) => ({ name: String(src.js(x)), node: x, scope }));
    this.diags.error(
      'must be a resource name or a list of them',
      `resources.${decl.name}.depends_on`,
      src.pos(n),
    );
    return [];
  }

  /** Turns each made resource's depends_on into the Stratus names of what those resources became. */
  resolveDependencies(): void {
    const reported = new Set<unknown>();
    for (const { rc, deps } of this.made) {
      const out = new Set<string>();
      for (const dep of deps) {
        const decl = dep.scope.decls.get(dep.name);
        if (!decl) {
          if (!reported.has(dep.node))
            this.diags.error(
              `names no resource of the template (resources: ${listNames([...dep.scope.decls.keys()])})`,
              `resources.${rc.name}.depends_on`,
              dep.scope.src.pos(dep.node),
            );
          reported.add(dep.node);
          continue;
        }
        for (const m of this.nativeUnder(decl)) if (m !== rc.name) out.add(m);
      }
      rc.dependsOn = [...out];
    }
  }

  /** The Stratus names of the native resources a declaration made (itself, a group's members, a nested stack's). */
  nativeUnder(decl: Decl): string[] {
    return this.members.get(decl) ?? [];
  }

  /**
   * A reference to a resource of Stratus type `type`: references pass; a name is looked up among the
   * native resources of every template loaded (their `name` property, else their resource name).
   */
  lookup(
    scope: TemplateScope,
    type: string,
    v: Value,
    path: (string | number)[],
    at: (p: (string | number)[]) => SourceRange | undefined,
    field: string,
  ): Value | undefined {
    if (v instanceof Ref || v instanceof Call || v instanceof Template) return v;
    if (!isResourceType(type)) {
      const heat = Object.entries(HEAT_TYPES).find(([, m]) => m.stratus === type)?.[0] ?? type;
      this.diags.error(
        `${notYet(heat)} (this property names one)`,
        `${field}.properties.${formatPath(path)}`,
        at(path),
      );
      return undefined;
    }
    if (typeof v !== 'string') {
      this.diags.error(
        `must name a ${type} (its name, or {get_resource: NAME})`,
        `${field}.properties.${formatPath(path)}`,
        at(path),
      );
      return undefined;
    }
    const found = this.byName(type, v);
    if (found) return new Ref(found, [], `{get_resource: ${found}}`);
    const heat = Object.entries(HEAT_TYPES).find(([, m]) => m.stratus === type)?.[0] ?? type;
    this.diags.error(
      `no ${heat} named ${JSON.stringify(v)} in the template; Stratus cannot yet name existing ${type}s on the host: declare it, or use {get_resource: NAME}`,
      `${field}.properties.${formatPath(path)}`,
      at(path),
    );
    void scope;
    return undefined;
  }

  /** The Stratus name of the native resource of `type` named `name` (by its name property, else its resource name). */
  byName(type: string, name: string): string | undefined {
    let byResource: string | undefined;
    for (const s of this.scopes)
      for (const d of s.decls.values()) {
        if (d.kind !== 'native' || d.mapping!.stratus !== type || !d.enabled) continue;
        const nameKey = Object.entries(d.mapping!.properties).find(([, r]) => r.to === 'name')?.[0] ?? 'name';
        const n = s.src.js(s.src.get(s.src.get(d.node, 'properties'), nameKey));
        if (n === name) return `${s.prefix}${d.name}`;
        if (n === undefined && d.name === name) byResource = `${s.prefix}${d.name}`;
        // A name given by a parameter: its value.
        const pn = s.src.get(s.src.get(d.node, 'properties'), nameKey);
        if (isMap(pn) && pn.items.length === 1) {
          const p = s.src.js(pn) as Record<string, unknown>;
          if (typeof p.get_param === 'string' && s.params.get(p.get_param)?.value === name)
            return `${s.prefix}${d.name}`;
        }
      }
    return byResource;
  }

  /**
   * The server of the stack whose first NIC is the port `port` ({get_resource: PORT}), as a reference;
   * undefined when none is (or `port` is no plain resource reference).
   */
  serverOfPort(port: Value): Value | undefined {
    if (!(port instanceof Ref) || port.path.length) return undefined;
    for (const s of this.scopes)
      for (const d of s.decls.values()) {
        if (d.kind !== 'native' || d.mapping!.stratus !== 'server' || !d.enabled) continue;
        const nets = s.src.js(s.src.get(s.src.get(d.node, 'properties'), 'networks'));
        const first = Array.isArray(nets) ? (nets[0] as Record<string, unknown> | undefined) : undefined;
        const ref =
          first && typeof first === 'object'
            ? (first.port as Record<string, unknown> | undefined)
            : undefined;
        if (ref && typeof ref === 'object' && typeof ref.get_resource === 'string')
          if (`${s.prefix}${ref.get_resource}` === port.resource) {
            const full = `${s.prefix}${d.name}`;
            return new Ref(full, [], `{get_resource: ${full}}`);
          }
      }
    return undefined;
  }

  /** Pairs of [network reference, network name] of every network in the stack, for a server's `networks` attribute. */
  networkNames(): Value {
    const out: Value[] = [];
    for (const s of this.scopes)
      for (const d of s.decls.values()) {
        if (d.kind !== 'native' || d.mapping!.stratus !== 'network' || !d.enabled) continue;
        const n = s.src.js(s.src.get(s.src.get(d.node, 'properties'), 'name'));
        const full = `${s.prefix}${d.name}`;
        out.push([new Ref(full, [], `{get_resource: ${full}}`), typeof n === 'string' ? n : d.name]);
      }
    return out;
  }

  /** Custom constraints of the top-level parameters: the value must name a resource of the type in the stack. */
  checkCustomConstraints(root: TemplateScope): void {
    for (const p of root.params.values()) {
      if (typeof p.value !== 'string') continue;
      for (const c of p.constraints) {
        if (c.kind !== 'custom_constraint') continue;
        const t = CUSTOM_CONSTRAINTS[String(c.spec)];
        if (!t) {
          this.diags.warning(
            `custom constraint ${String(c.spec)} is not checked by Stratus`,
            `parameters.${p.name}`,
            root.src.at(c.offset),
          );
          continue;
        }
        if (!isResourceType(t)) continue;
        if (!this.byName(t, p.value))
          this.diags.error(
            c.description ??
              `parameter ${p.name}: no ${t} named ${p.hidden ? '(hidden)' : JSON.stringify(p.value)} in the stack (custom constraint ${String(c.spec)}); Stratus cannot yet check existing ${t}s on the host`,
            `parameters.${p.name}`,
            p.valueAt ?? root.src.at(c.offset),
          );
      }
    }
  }

  // ---------------------------------------------------------------- Heat's own types

  heatResource(scope: TemplateScope, decl: Decl): NonNullable<Decl['value']> {
    const { src } = scope;
    const field = `resources.${decl.name}`;
    const propsNode = src.get(decl.node, 'properties');
    const { values, ok, taint } = this.properties(scope, decl, propsNode, [], field);
    if (!ok) throw new Reported();
    const p = (k: string) => values.get(k)?.value;
    const known = (allowed: string[]) => {
      for (const [k, v] of values)
        if (!allowed.includes(k))
          throw new HeatError(`unknown property of ${decl.type}; properties: ${allowed.join(', ')}`, v.key);
    };
    const plain = (id: Value, attrs: Record<string, Value>, t: Taint = taint) => ({
      id,
      attrs: (attr: string, path: (string | number)[], node: unknown) => {
        if (!Object.hasOwn(attrs, attr))
          throw new HeatError(
            `${decl.type} ${decl.name} has no attribute ${attr} (attributes: ${Object.keys(attrs).join(', ') || 'none'})`,
            node,
          );
        return withTaint(index(attrs[attr]!, path, node), t);
      },
      taint: t,
    });
    switch (decl.type) {
      case 'OS::Heat::None':
        return plain(null, {});
      case 'OS::Heat::Value': {
        known(['value', 'type']);
        let v = p('value') ?? null;
        const t = p('type');
        if (t !== undefined) {
          if (!PARAMETER_TYPES.includes(t as ParameterType))
            throw new HeatError(
              `type must be one of ${PARAMETER_TYPES.join(', ')}`,
              values.get('type')!.node,
            );
          const c = convertParameter(t as ParameterType, v);
          if ('error' in c) throw new HeatError(`value ${c.error}`, values.get('value')?.node ?? decl.node);
          v = c.value;
        }
        return plain(decl.name, { value: v });
      }
      case 'OS::Heat::RandomString': {
        known(['length', 'sequence', 'character_classes', 'character_sequences', 'salt']);
        const value = this.randomString(scope, decl, values);
        const t: Taint = { sensitive: `the random string ${decl.name}` };
        return plain(value, { value }, t);
      }
      case 'OS::Heat::CloudConfig': {
        known(['cloud_config']);
        const text = this.fn(
          'heat:cloud_config',
          [p('cloud_config') ?? {}],
          values.get('cloud_config')?.node ?? decl.node,
          'cloud_config',
        );
        return plain(text, { config: text });
      }
      case 'OS::Heat::SoftwareConfig': {
        known(['config', 'group', 'inputs', 'outputs', 'options']);
        const group = p('group') ?? 'Heat::Ungrouped';
        if (group !== 'Heat::Ungrouped' && group !== 'ungrouped' && group !== 'script')
          throw new HeatError(
            `group ${JSON.stringify(group)} needs Heat software deployments (a config tool on the guest), which are not supported; use group script or leave it out`,
            values.get('group')!.node,
          );
        for (const k of ['inputs', 'outputs', 'options']) {
          const v = p(k);
          if (
            v !== undefined &&
            !(Array.isArray(v) && v.length === 0) &&
            !(isPlainMap(v) && Object.keys(v).length === 0)
          )
            this.diags.warning(
              `ignored: ${k} need Heat software deployments, which are not supported (the config is used as user data)`,
              `${field}.properties.${k}`,
              src.pos(values.get(k)!.key),
            );
        }
        const text = p('config') ?? '';
        return plain(text, { config: text });
      }
      case 'OS::Heat::MultipartMime': {
        known(['parts', 'group']);
        const text = this.fn(
          'heat:multipart',
          [p('parts') ?? []],
          values.get('parts')?.node ?? decl.node,
          'MultipartMime',
        );
        return plain(text, { config: text });
      }
    }
    throw new HeatError(`unknown Heat type ${decl.type}`, decl.node);
  }

  /**
   * OS::Heat::RandomString: `length` characters from the classes and sequences asked for, each at
   * least its `min` times. Heat generates it once and keeps it; here it is derived from a secret seed
   * kept beside the template (`.NAME.stratus-heat-seed`, mode 0600; never in state or plans), the resource's name and its properties,
   * so it is the same at every load and changes when the properties (or `salt`) do.
   */
  randomString(
    scope: TemplateScope,
    decl: Decl,
    values: Map<string, { value: Value; node: unknown }>,
  ): string {
    const v = (k: string) => values.get(k)?.value;
    const node = (k: string) => values.get(k)?.node ?? decl.node;
    const length = v('length') ?? 32;
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > 512)
      throw new HeatError('length must be a whole number from 1 to 512', node('length'));
    const CLASSES: Record<string, string> = {
      lettersdigits: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
      letters: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      lowercase: 'abcdefghijklmnopqrstuvwxyz',
      uppercase: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
      digits: '0123456789',
      hexdigits: '0123456789abcdef',
      octdigits: '01234567',
    };
    const pools: { chars: string; min: number }[] = [];
    const seq = v('sequence');
    if (seq !== undefined) {
      if (typeof seq !== 'string' || !CLASSES[seq])
        throw new HeatError(`sequence must be one of ${Object.keys(CLASSES).join(', ')}`, node('sequence'));
      pools.push({ chars: CLASSES[seq]!, min: 0 });
    }
    const classes = v('character_classes');
    if (classes !== undefined) {
      if (!Array.isArray(classes))
        throw new HeatError('character_classes must be a list of {class, min}', node('character_classes'));
      for (const c of classes) {
        const cls = isPlainMap(c) ? (c.class ?? 'lettersdigits') : undefined;
        const min = isPlainMap(c) ? (c.min ?? 1) : undefined;
        if (typeof cls !== 'string' || !CLASSES[cls] || typeof min !== 'number')
          throw new HeatError(
            `each character class is {class: ${Object.keys(CLASSES).join('|')}, min: N}`,
            node('character_classes'),
          );
        pools.push({ chars: CLASSES[cls]!, min });
      }
    }
    const seqs = v('character_sequences');
    if (seqs !== undefined) {
      if (!Array.isArray(seqs))
        throw new HeatError(
          'character_sequences must be a list of {sequence, min}',
          node('character_sequences'),
        );
      for (const c of seqs) {
        const s = isPlainMap(c) ? c.sequence : undefined;
        const min = isPlainMap(c) ? (c.min ?? 1) : undefined;
        if (typeof s !== 'string' || s === '' || typeof min !== 'number')
          throw new HeatError(
            'each character sequence is {sequence: CHARS, min: N}',
            node('character_sequences'),
          );
        pools.push({ chars: s, min });
      }
    }
    if (pools.length === 0) pools.push({ chars: CLASSES.lettersdigits!, min: 0 });
    const mins = pools.reduce((a, p) => a + p.min, 0);
    if (mins > length)
      throw new HeatError(
        `the minimums of the character classes and sequences add up to ${mins}, more than length ${length}`,
        node('length'),
      );
    if (isSymbolic(Object.fromEntries([...values].map(([k, x]) => [k, x.value])) as Value))
      throw new HeatError('the properties of a RandomString must be known before apply', decl.node);
    // A stream of bytes from the seed: HMAC-SHA256 over the resource and a counter.
    const key = this.seedFor(scope);
    const material = JSON.stringify([scope.prefix, decl.name, [...values].map(([k, x]) => [k, x.value])]);
    let counter = 0;
    let buf = Buffer.alloc(0);
    const byte = (): number => {
      if (buf.length === 0) buf = createHmac('sha256', key).update(`${material}\0${counter++}`).digest();
      const b = buf[0]!;
      buf = buf.subarray(1);
      return b;
    };
    // An unbiased pick of one of n (rejection sampling).
    const pick = (n: number): number => {
      const limit = 256 - (256 % n);
      for (;;) {
        const b = byte();
        if (b < limit) return b % n;
      }
    };
    const chars: string[] = [];
    for (const p of pools) for (let i = 0; i < p.min; i++) chars.push(p.chars[pick(p.chars.length)]!);
    const all = [...new Set(pools.map((p) => p.chars).join(''))].join('');
    while (chars.length < length) chars.push(all[pick(all.length)]!);
    for (let i = chars.length - 1; i > 0; i--) {
      const j = pick(i + 1);
      [chars[i], chars[j]] = [chars[j]!, chars[i]!];
    }
    return chars.join('');
  }

  /** The stack's random seed, made once beside the top-level template. */
  seedFor(scope: TemplateScope): Buffer {
    if (this.seed) return this.seed;
    const file = join(this.config.dir, `.${this.config.name}.stratus-heat-seed`);
    void scope;
    try {
      if (existsSync(file)) this.seed = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
      if (!this.seed || this.seed.length < 32) {
        this.seed = randomBytes(32);
        writeFileSync(file, `${this.seed.toString('hex')}\n`, { mode: 0o600 });
      }
    } catch (e) {
      throw new HeatError(
        `cannot keep the random seed of OS::Heat::RandomString in ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        undefined,
      );
    }
    return this.seed;
  }

  // ---------------------------------------------------------------- groups and nested stacks

  group(scope: TemplateScope, decl: Decl): NonNullable<Decl['value']> {
    const { src } = scope;
    const field = `resources.${decl.name}`;
    const propsNode = src.get(decl.node, 'properties');
    if (!isMap(propsNode))
      throw new HeatError('a ResourceGroup needs properties with resource_def', decl.node);
    for (const [k, kn] of src.pairs(propsNode))
      if (!['count', 'resource_def', 'index_var', 'removal_policies', 'removal_policies_mode'].includes(k))
        this.diags.error(
          'unknown property of OS::Heat::ResourceGroup; properties: count, resource_def, index_var, removal_policies, removal_policies_mode',
          `${field}.properties.${k}`,
          src.pos(kn),
        );
    const countNode = src.get(propsNode, 'count');
    const count = countNode === undefined ? 1 : this.ev(scope, countNode, {}, {});
    const n = typeof count === 'string' && /^\d+$/.test(count) ? Number(count) : count;
    if (isSymbolic(n as Value))
      throw new HeatError('count must be known before apply (parameters, not resources)', countNode);
    if (typeof n === 'number' && n > MAX_GROUP)
      throw new HeatError(
        `count ${n} is more than Stratus makes in one ResourceGroup (${MAX_GROUP})`,
        countNode,
      );
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
      throw new HeatError('count must be a whole number, 0 or more', countNode);
    const ivNode = src.get(propsNode, 'index_var');
    const indexVar = ivNode === undefined ? '%index%' : this.ev(scope, ivNode, {}, {});
    if (typeof indexVar !== 'string' || indexVar === '')
      throw new HeatError('index_var must be a non-empty string', ivNode);
    const rp = src.keyNode(propsNode, 'removal_policies');
    if (rp && JSON.stringify(src.js(src.get(propsNode, 'removal_policies'))) !== '[]')
      this.diags.warning(
        'ignored: removal_policies (lowering count removes the highest-numbered members, as count does)',
        `${field}.properties.removal_policies`,
        src.pos(rp),
      );
    const def = src.get(propsNode, 'resource_def');
    if (!isMap(def))
      throw new HeatError(
        'resource_def is required: a mapping with type and properties',
        src.keyNode(propsNode, 'resource_def') ?? decl.node,
      );
    for (const [k, kn] of src.pairs(def))
      if (k !== 'type' && k !== 'properties' && k !== 'metadata')
        this.diags.error(
          'unknown key; expected type, properties, metadata',
          `${field}.properties.resource_def.${k}`,
          src.pos(kn),
        );
    const typeNode = src.get(def, 'type');
    const written = src.js(typeNode);
    if (typeof written !== 'string') throw new HeatError('resource_def needs a type', def);
    const t = this.resolveType(scope, written, typeNode);
    const memberNames: string[] = [];
    const members: { id: Value; attr: (a: string, path: (string | number)[], node: unknown) => Value }[] = [];
    this.members.set(decl, memberNames);
    if (t.kind === 'missing') {
      this.diags.error(
        `${notYet(t.type)} (Stratus has no ${HEAT_TYPES[t.type]!.stratus} type yet)`,
        `${field}.properties.resource_def.type`,
        src.pos(typeNode),
      );
      throw new Reported();
    }
    if (t.kind !== 'native' && t.kind !== 'nested') {
      const why = UNSUPPORTED_FEATURES[t.type];
      throw new HeatError(
        why
          ? `${t.type}: ${why}`
          : `a ResourceGroup of ${t.type} is not supported: its members must be Stratus resources or a template`,
        typeNode,
      );
    }
    const propsDef = src.get(def, 'properties');
    for (let i = 0; i < n; i++) {
      const subs: [string, string][] = [[indexVar, String(i)]];
      if (t.kind === 'native') {
        const name = instanceName(`${scope.prefix}${decl.name}`, i);
        const member: Decl = { ...decl, type: t.type, kind: 'native', mapping: HEAT_TYPES[t.type] };
        this.nativeResource(scope, member, name, propsDef, subs, def, `${scope.prefix}${decl.name}-${i}`);
        // depends_on of the group applies to each member.
        const last = this.made[this.made.length - 1];
        if (last && last.rc.name === name) last.deps = this.dependsOn(scope, decl);
        memberNames.push(name);
        members.push({
          id: new Ref(name, [], `{get_resource: ${name}}`),
          attr: (a, path, node) => this.nativeAttr(name, HEAT_TYPES[t.type]!, t.type, a, path, node),
        });
      } else {
        const prefix = `${scope.prefix}${decl.name}-${i}`;
        const nested = this.nested(scope, decl, t.file!, prefix, propsDef, subs, memberNames);
        members.push({ id: nested.id, attr: nested.attrs });
      }
    }
    const memberAttr = (
      i: number,
      a: string | undefined,
      path: (string | number)[],
      node: unknown,
    ): Value => {
      const m = members[i];
      if (!m) throw new HeatError(`${decl.name} has no member ${i}: its count is ${n}`, node);
      return a === undefined ? index(m.id, path, node) : m.attr(a, path, node);
    };
    return {
      id: members.map((m) => m.id),
      attrs: (attr, path, node) => {
        if (attr === 'refs')
          return index(
            members.map((m) => m.id),
            path,
            node,
          );
        if (attr === 'refs_map')
          return index(Object.fromEntries(members.map((m, i) => [String(i), m.id])), path, node);
        if (attr === 'removed_rsrc_list') return index([], path, node);
        if (attr === 'attributes') {
          const [a, ...rest] = path;
          if (typeof a !== 'string')
            throw new HeatError('get_attr [GROUP, attributes, ATTRIBUTE] needs the attribute name', node);
          return Object.fromEntries(members.map((_, i) => [String(i), memberAttr(i, a, rest, node)]));
        }
        const m = /^resource\.(\d+)(?:\.(.+))?$/.exec(attr);
        if (m) {
          const i = Number(m[1]);
          if (m[2] !== undefined) return memberAttr(i, m[2], path, node);
          if (path.length === 0) return memberAttr(i, undefined, [], node);
          const [a, ...rest] = path;
          return memberAttr(i, String(a), rest, node);
        }
        return members.map((_, i) => memberAttr(i, attr, path, node));
      },
    };
  }

  /** A provider (nested) template: its resources join the stack as `prefix-NAME`; its outputs are its attributes. */
  nested(
    scope: TemplateScope,
    decl: Decl,
    file: string,
    prefix: string,
    propsNode: unknown,
    subs: [string, string][],
    names: string[],
  ): NonNullable<Decl['value']> {
    const field = `resources.${decl.name}`;
    if (scope.depth + 1 > MAX_DEPTH)
      throw new HeatError(`provider templates nest more than ${MAX_DEPTH} deep`, decl.node);
    // Read and parsed once however many members of a group use it (its problems are reported once).
    if (!this.files.has(file))
      this.files.set(
        file,
        YamlSource.read(
          file,
          this.diags,
          'provider template',
          scope.src.pos(scope.src.get(decl.node, 'type')),
        ),
      );
    const src = this.files.get(file);
    if (!src) throw new Reported();
    this.inputs.add(file);
    const { values, ok, taint } = this.properties(scope, decl, propsNode, subs, field);
    if (!ok) throw new Reported();
    const given = new Map<string, { value: Value; node: unknown }>();
    for (const [k, v] of values) given.set(k, { value: v.value, node: v.key });
    const before = this.made.length;
    const child = this.template(src, `${prefix}-`, scope.depth + 1, {
      values: given,
      taint,
      at: scope.src.pos(scope.src.get(decl.node, 'type')),
      src: scope.src,
    });
    if (!child) throw new Reported();
    const mine = this.made.slice(before).map((m) => m.rc.name);
    names.push(...mine);
    if (!this.members.has(decl) || this.members.get(decl) !== names) this.members.set(decl, names);
    // A depends_on of the provider resource applies to every resource inside it.
    const outer = this.dependsOn(scope, decl);
    for (const m of this.made.slice(before))
      for (const dep of outer)
        if (!m.deps.some((d) => d.name === dep.name && d.scope === dep.scope)) m.deps.push(dep);
    return {
      id: mine.length === 1 ? new Ref(mine[0]!, [], `{get_resource: ${mine[0]}}`) : prefix,
      attrs: (attr, path, node) => {
        const o = child.outputs.get(attr);
        if (!o)
          throw new HeatError(
            `the template ${basename(file)} has no output ${attr} (outputs: ${listNames([...child.outputs.keys()]) || 'none'})`,
            node,
          );
        if (o.value === undefined) throw new Reported();
        return index(o.value, path, node);
      },
    };
  }

  // ---------------------------------------------------------------- attributes

  /** get_attr of a native resource: the Stratus attribute the mapping names, with the rest of the path. */
  nativeAttr(
    name: string,
    m: HeatTypeMapping,
    heatType: string,
    attr: string,
    path: (string | number)[],
    node: unknown,
  ): Value {
    const rule = m.attributes[attr];
    if (!rule) {
      if (attr === 'show')
        throw new HeatError(
          'the show attribute (the whole OpenStack object) is not supported: name the attribute',
          node,
        );
      throw new HeatError(
        `${heatType} has no attribute ${attr} in Stratus (attributes: ${Object.keys(m.attributes).join(', ') || 'none'})`,
        node,
      );
    }
    const self = new Ref(name, [], `{get_resource: ${name}}`);
    if (rule.path) {
      if (path.every((p) => typeof p === 'string' || typeof p === 'number'))
        return new Ref(name, [...rule.path, ...path], `{get_attr: [${[name, attr, ...path].join(', ')}]}`);
    }
    const v = rule.derive!(self, {
      heatType,
      lookup: () => undefined,
      error: () => {},
      warn: () => {},
      networkNames: () => this.networkNames(),
      serverOfPort: () => undefined,
    });
    return index(v, path, node);
  }

  // ---------------------------------------------------------------- intrinsic functions

  /** Calls a Heat function now when its arguments are known, else leaves the call for apply. */
  fn(name: string, args: Value[], node: unknown, what: string): Value {
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
  ev(
    scope: TemplateScope,
    node0: unknown,
    taint: Taint,
    o: { subs?: [string, string][]; condition?: boolean },
  ): Ev {
    const { src } = scope;
    const node = src.deref(node0);
    if (node === undefined || node === null) return null;
    // Aliases can make a small file a deep or huge value (an alias inside what it names, alias bombs).
    if (isAlias(node0) && ++this.visits > MAX_VISITS)
      throw new HeatError(
        `the template's values are too large to evaluate (more than ${MAX_VISITS} aliases expanded; an alias bomb?)`,
        node,
      );
    if (this.evDepth >= MAX_EV_DEPTH)
      throw new HeatError(
        `values nest more than ${MAX_EV_DEPTH} deep (an alias inside what it names?)`,
        node,
      );
    this.evDepth++;
    try {
      return this.evNode(scope, node, taint, o);
    } finally {
      this.evDepth--;
    }
  }

  evNode(
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
        const v = this.ev(scope, x, taint, o);
        if (v !== REMOVED) out.push(v);
      }
      return out;
    }
    if (isMap(node)) {
      const pairs = src.pairs(node);
      if (pairs.length === 1) {
        const [k, kn, arg] = pairs[0]!;
        if (Object.hasOwn(FUNCTION_SINCE, k) || k.startsWith('Fn::') || k === 'Ref')
          return this.call(scope, k, kn, arg, taint, o);
      }
      const out: Record<string, Value> = {};
      for (const [k, , x] of pairs) {
        const v = this.ev(scope, x, taint, o);
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
  call(
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
    const arg = () => this.ev(scope, argNode, taint, o) as Value;
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
        const parts = isSeq(a) ? a.items.map((x) => this.ev(scope, x, taint, o) as Value) : [arg()];
        const [name, ...path] = parts;
        if (typeof name !== 'string')
          throw new HeatError('get_param takes a parameter name (or [NAME, path...])', argNode);
        let v: Value;
        if (name === 'OS::stack_name') v = this.config.name;
        else if (name === 'OS::stack_id') v = stableUuid(`stack:${this.config.file}`);
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
        return this.resourceId(scope, name, argNode, taint, o);
      }
      case 'get_attr': {
        const items = list(2, 100, '[RESOURCE, ATTRIBUTE, path...]');
        const [rn, an, ...rest] = items.map((x) => this.ev(scope, x, taint, o) as Value);
        if (typeof rn !== 'string')
          throw new HeatError('get_attr: the first item must be a resource name', items[0]);
        if (typeof an !== 'string')
          throw new HeatError('get_attr: the second item must be an attribute name', items[1]);
        for (const [i, p] of rest.entries())
          if (typeof p !== 'string' && typeof p !== 'number')
            throw new HeatError('get_attr: a path item must be a key or an index', items[i + 2]);
        return this.attr(scope, rn, an, rest as (string | number)[], argNode, taint);
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
          this.inputs.add(file);
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
        const t = this.ev(scope, src.get(a, 'template'), taint, o) as Value;
        const params = this.ev(scope, src.get(a, 'params'), taint, o) as Value;
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
        return heat(items.map((x) => this.ev(scope, x, taint, o) as Value));
      }
      case 'repeat': {
        const a = arg();
        return heat([a]);
      }
      case 'list_concat':
      case 'list_concat_unique': {
        const items = list(1, 100, '[LIST, LIST, ...]').map((x) => this.ev(scope, x, taint, o) as Value);
        const out: Value[] = [];
        items.forEach((l, i) => {
          if (!Array.isArray(l))
            throw new HeatError(`${fn}: argument ${i + 1} must be a list known before apply`, argNode);
          for (const x of l)
            if (fn === 'list_concat' || !out.some((y) => JSON.stringify(y) === JSON.stringify(x)))
              out.push(x);
        });
        return out;
      }
      case 'not': {
        return !this.bool(scope, argNode, fn);
      }
      case 'and':
      case 'or': {
        const items = list(2, 100, '[CONDITION, CONDITION, ...] (at least two)');
        const vals = items.map((x) => this.bool(scope, x, fn));
        return fn === 'and' ? vals.every(Boolean) : vals.some(Boolean);
      }
      case 'if': {
        const items = list(2, 3, '[CONDITION, VALUE_IF_TRUE, VALUE_IF_FALSE]');
        const c = this.bool(scope, items[0], fn);
        if (c) return this.ev(scope, items[1], taint, o);
        return items.length === 3 ? this.ev(scope, items[2], taint, o) : REMOVED;
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

  /** A condition operand: a condition's name or a condition function (in `if`, `not`, `and`, `or`). */
  bool(scope: TemplateScope, node0: unknown, fn: string): boolean {
    const node = scope.src.deref(node0);
    if (isScalar(node) && typeof node.value === 'string') return this.condition(scope, node.value, node);
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    const v = this.ev(scope, node, {}, { condition: true });
    if (isSymbolic(v as Value))
      throw new HeatError(
        `${fn}: the condition must be known before apply (parameters, not resources)`,
        node,
      );
    if (typeof v !== 'boolean')
      throw new HeatError(`${fn}: a condition must be a condition name or a condition function`, node);
    return v;
  }

  /** get_resource: a Stratus resource's id, or what a Heat type gives (a config's text, a random string...). */
  resourceId(
    scope: TemplateScope,
    name: string,
    node: unknown,
    taint: Taint,
    o: { condition?: boolean },
  ): Value {
    const decl = this.declOf(scope, name, node, o);
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
    const v = this.valueOf(scope, decl, node);
    const t = (v as { taint?: Taint }).taint;
    if (t?.sensitive) taint.sensitive ??= t.sensitive;
    return v.id;
  }

  attr(
    scope: TemplateScope,
    name: string,
    attr: string,
    path: (string | number)[],
    node: unknown,
    taint: Taint,
  ): Value {
    const decl = this.declOf(scope, name, node, {});
    if (!decl.enabled) return null;
    const full = `${scope.prefix}${name}`;
    if (decl.kind === 'missing') return this.nativeAttr(full, decl.mapping!, decl.type, attr, path, node);
    if (decl.kind === 'bad') throw new Reported();
    if (decl.kind === 'native') return this.nativeAttr(full, decl.mapping!, decl.type, attr, path, node);
    const v = this.valueOf(scope, decl, node);
    const t = (v as { taint?: Taint }).taint;
    if (t?.sensitive) taint.sensitive ??= t.sensitive;
    const got = v.attrs(attr, path, node);
    if (got instanceof Tainted) {
      taint.sensitive ??= got.taint.sensitive;
      return got.value;
    }
    return got;
  }

  declOf(scope: TemplateScope, name: string, node: unknown, o: { condition?: boolean }): Decl {
    if (o.condition)
      throw new HeatError(
        'a condition must be known before apply: it may use parameters, not resources',
        node,
      );
    const decl = scope.decls.get(name);
    if (!decl)
      throw new HeatError(
        `unknown resource ${name}${scope.decls.size ? ` (resources: ${listNames([...scope.decls.keys()])})` : ''}`,
        node,
      );
    return decl;
  }

  valueOf(scope: TemplateScope, decl: Decl, node: unknown): NonNullable<Decl['value']> {
    if (decl.realizing)
      throw new HeatError(`${decl.name} refers to itself (through the values it is made of)`, node);
    this.realize(scope, decl);
    if (!decl.value) throw new Reported();
    return decl.value;
  }
}

/** A value with the sensitivity of where it came from (a random string's attributes). */
class Tainted {
  constructor(
    readonly value: Value,
    readonly taint: Taint,
  ) {}
}

function withTaint(v: Value, t: Taint): Value {
  return (t.sensitive ? new Tainted(v, t) : v) as Value;
}

const isPlainMap = (v: unknown): v is Record<string, Value> =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  !(v instanceof Ref) &&
  !(v instanceof Call) &&
  !(v instanceof Template);

/** `v` at `path`: plain values indexed now; a reference extended; anything else indexed at apply. */
function index(v: Value, path: readonly (string | number)[], node: unknown): Value {
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
function stableUuid(s: string): string {
  const h = createHash('sha256').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
