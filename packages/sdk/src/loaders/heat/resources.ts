/**
 * A template's resources: declaration (keys, type through the resource_registry, condition), Heat
 * types mapped onto Stratus resources (types.ts), deletion_policy, depends_on, lookups by name,
 * attributes of native resources.
 */
import { isAbsolute, resolve } from 'node:path';
import { attributes, formatPath, isResourceType, type ResourceType, schemas } from '@stratus/model';
import type { SourceRange } from '../../diagnostics/index.js';
import { listNames } from '../../diagnostics/limits.js';
import type { Locator, ResourceConfig } from '../../engine/config.js';
import { Call, Ref, Template, type Value } from '../../engine/expr.js';
import { normalizeOptions, normalizeValues } from '../../engine/normalize.js';
import { instanceName, parseAddress } from '../../expand/address.js';
import type { Taint } from '../../expand/evaluate.js';
import {
  type Decl,
  type Dep,
  HeatError,
  index,
  isPlainMap,
  type Kind,
  REMOVED,
  type TemplateScope,
} from './common.js';
import { isTemplateTarget } from './environment.js';
import { type ExistingObject, findExisting } from './existing.js';
import type { HeatLoader } from './load.js';

/** The keys a resource may have. */
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
/** A resource name Stratus can use. */
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
  // Stratus keeps a floating IP's association on the floating IP: the loader sets it there.
  'OS::Neutron::FloatingIPAssociation',
]);

import {
  HEAT_TYPES,
  type HeatTypeMapping,
  isAvailable,
  type MapContext,
  notYet,
  UNSUPPORTED_FEATURES,
} from './types.js';
import { CONDITIONS_SINCE, versionName } from './versions.js';
import { isMap, isScalar, isSeq } from './yaml-source.js';

/** The kind of a (registry-resolved) type. */
export function resolveType(
  L: HeatLoader,
  scope: TemplateScope,
  written: string,
  at: unknown,
): { type: string; kind: Kind; file?: string } {
  let type = written;
  for (let i = 0; i < 10; i++) {
    const r = L.env.registry.get(type);
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
export function declare(
  L: HeatLoader,
  scope: TemplateScope,
  name: string,
  keyNode: unknown,
  node: unknown,
): void {
  const { src } = scope;
  const d = L.diags;
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
      d.error(`unknown key; expected one of ${[...RESOURCE_KEYS].join(', ')}`, `${field}.${k}`, src.pos(kk));
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
    const t = L.resolveType(scope, written, typeNode);
    decl.type = t.type;
    decl.kind = t.kind;
    if (t.file) decl.file = t.file;
    if (t.kind === 'native' || t.kind === 'missing') decl.mapping = HEAT_TYPES[t.type];
  } catch (e) {
    L.report(e, scope, `${field}.type`);
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
        decl.enabled = L.conditionValue(scope, cn);
      } catch (e) {
        L.report(e, scope, `${field}.condition`);
      }
  }
  if (decl.kind === 'missing' || decl.kind === 'bad') L.config.invalid!.add(`${scope.prefix}${name}`);
}

/** Makes a declared resource what it becomes: Stratus resources, a computed value, a group, a nested stack. */
export function realize(L: HeatLoader, scope: TemplateScope, decl: Decl): void {
  if (decl.value || decl.realizing || decl.failed || !decl.enabled) return;
  if (decl.kind === 'native') {
    if (L.members.has(decl)) return;
    const name = `${scope.prefix}${decl.name}`;
    L.members.set(decl, [name]);
    L.nativeResource(scope, decl, name, scope.src.get(decl.node, 'properties'), [], undefined);
    return;
  }
  if (decl.kind !== 'heat' && decl.kind !== 'group' && decl.kind !== 'nested') return;
  decl.realizing = true;
  try {
    if (decl.kind === 'heat') decl.value = L.heatResource(scope, decl);
    else if (decl.kind === 'group') decl.value = L.group(scope, decl);
    else
      decl.value = L.nested(
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
    L.report(e, scope, `resources.${decl.name}`);
    L.config.invalid!.add(`${scope.prefix}${decl.name}`);
  } finally {
    decl.realizing = false;
  }
}

/** The properties of a resource, evaluated, with the keys whose value is sensitive. */
export function properties(
  L: HeatLoader,
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
    L.diags.error('must be a mapping', `${field}.properties`, src.pos(propsNode));
    return { values, sensitive, taint: all, ok: false };
  }
  for (const [k, kn, vn] of src.pairs(propsNode)) {
    const taint: Taint = {};
    try {
      const v = L.ev(scope, vn, taint, { subs });
      if (v !== REMOVED) values.set(k, { value: v, node: vn, key: kn });
      if (taint.sensitive) {
        sensitive.add(k);
        all.sensitive ??= taint.sensitive;
      }
    } catch (e) {
      ok = false;
      L.report(e, scope, `${field}.properties.${k}`);
    }
  }
  void decl;
  return { values, sensitive, taint: all, ok };
}

/** A resource a mapping adds beside the one it maps (see MapContext.addResource). */
export interface ExtraResource {
  name: string;
  type: ResourceType;
  inputs: Record<string, Value>;
  /** The Heat property (relative to `properties`) it comes from: where its problems are reported. */
  path: (string | number)[];
  /** Its default `name` input. */
  displayName: string;
}

/** A Heat resource mapped onto a Stratus resource, added to the config as `name`. */
export function nativeResource(
  L: HeatLoader,
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
  const { values, sensitive, ok } = L.properties(scope, decl, propsNode, subs, field);
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
  /** Stratus input -> the Heat path (below properties) its value was written at. */
  const toHeat = new Map<string, (string | number)[]>();
  const at = (path: (string | number)[]) =>
    src.locate(propsNode, path) ?? src.pos(src.keyNode(declNode, 'type'));
  const propField = (path: (string | number)[]) =>
    path.length ? `${field}.properties.${formatPath(path)}` : `${field}.properties`;
  // Resources the mapping adds beside this one (a server's boot volume made from an image, its volume
  // attachments): named after it, so a group's member `grp[0]` has `grp_<suffix>[0]`.
  const extras: ExtraResource[] = [];
  const parsed = parseAddress(name);
  const extraName = (suffix: string) =>
    parsed?.key !== undefined ? instanceName(`${parsed.name}_${suffix}`, parsed.key) : `${name}_${suffix}`;
  const ctx: MapContext = {
    heatType: decl.type,
    lookup: (t, v, path) => L.lookup(scope, t, v, path, at, field),
    error: (message, path) => {
      good = false;
      L.diags.error(message, propField(path), at(path));
    },
    warn: (message, path) => L.diags.warning(message, propField(path), at(path)),
    networkNames: () => L.networkNames(),
    serverOfPort: (port) => L.serverOfPort(port),
    self: () => new Ref(name, [], `{get_resource: ${name}}`),
    extraName,
    addResource: (t, suffix, inputs, path) => {
      const n = extraName(suffix);
      // Its display name follows the resource's (`web-boot-volume`, a group's `grp-0-boot-volume`).
      const displayName = `${defaultName}-${suffix.replace(/_/g, '-')}`;
      extras.push({ name: n, type: t as ResourceType, inputs, path, displayName });
      return new Ref(n, [], `{get_resource: ${n}}`);
    },
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
    toHeat.set(rule.to, [k, ...(rule.within ?? [])]);
  }
  // A property that failed to evaluate was reported: it is not missing as well.
  if (ok)
    for (const req of mapping.required ?? [])
      if (!req.split('|').some((r) => r in heat))
        ctx.error(`property ${req.split('|').join(' or ')} is required for ${decl.type}`, []);
  mapping.finish?.(heat, out, ctx);
  if ('user_data' in heat) toHeat.set('userData', ['user_data']);
  if ('bootVolume' in out)
    toHeat.set('bootVolume', [
      'block_device_mapping_v2' in heat ? 'block_device_mapping_v2' : 'block_device_mapping',
    ]);
  L.retain(scope, decl, field);
  if (!good) {
    L.config.invalid!.add(name);
    return;
  }
  const { properties, problems } = normalizeValues(type, defaultName, out, scope.dir);
  /**
   * A Stratus path (relative to the declaration) in the template's words: the Heat property (and the
   * place inside it) the value came from, then as much of the rest as the template writes, each key as
   * written or in Heat's snake_case (`fixedIp` -> `fixed_ip`). Undefined when no property gave it.
   */
  const heatPath = (path: readonly (string | number)[]): (string | number)[] | undefined => {
    if (path[0] === 'dependsOn') return ['depends_on', ...path.slice(1)];
    if (path[0] !== 'properties' || typeof path[1] !== 'string') return undefined;
    const base = toHeat.get(path[1]);
    if (!base) return undefined;
    const out: (string | number)[] = [...base];
    let node = src.get(propsNode, String(base[0]));
    for (const k of base.slice(1)) node = isMap(node) ? src.get(node, String(k)) : undefined;
    for (const seg of path.slice(2)) {
      if (typeof seg === 'number' && isSeq(node) && node.items[seg] !== undefined) {
        node = src.deref(node.items[seg]);
        out.push(seg);
        continue;
      }
      if (typeof seg !== 'string' || !isMap(node)) break;
      const snake = seg.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      const key = src.keyNode(node, seg) ? seg : src.keyNode(node, snake) ? snake : undefined;
      if (key === undefined) break;
      node = src.get(node, key);
      out.push(key);
    }
    return ['properties', ...out];
  };
  const locate: Locator = (path) => {
    const hp = heatPath(path);
    if (hp?.[0] === 'depends_on') return src.locate(decl.node, hp);
    if (hp) return src.locate(propsNode, hp.slice(1)) ?? at([hp[1]!]);
    return src.pos(src.keyNode(declNode, 'type'));
  };
  const sourcePath = (path: readonly (string | number)[]) => heatPath(path) ?? path;
  for (const p of problems) {
    const hp = sourcePath(['properties', ...p.path]);
    const sens = typeof hp[1] === 'string' && sensitive.has(hp[1]);
    L.diags.error(
      sens ? 'the value (sensitive) is not valid here' : p.message,
      `${field}.${formatPath(hp)}`,
      locate(['properties', ...p.path]),
    );
  }
  const opts = normalizeOptions(type, undefined, undefined);
  const lifecycle = { ...opts.lifecycle };
  if (L.retained(scope, decl)) lifecycle.preventDestroy = true;
  const sens = [...sensitive]
    .map((k) => mapping.properties[k]?.to ?? (k === 'user_data' ? 'userData' : undefined))
    .filter((k): k is string => !!k && k in properties);
  const rc: ResourceConfig = {
    name,
    type,
    properties,
    dependsOn: [],
    locate,
    sourcePath,
    lifecycle,
    timeouts: opts.timeouts,
    ...(sens.length ? { sensitive: [...new Set(sens)].sort() } : {}),
  };
  if (problems.length) L.config.invalid!.add(name);
  else L.config.resources.set(name, rc);
  // Before the resource itself: a group's member is the last one made (groups.ts reads it).
  for (const x of extras) L.extraResource(scope, decl, x, at, propField);
  L.made.push({ rc, deps: L.dependsOn(scope, decl) });
}

/**
 * A resource a mapping added beside a native one (see MapContext.addResource): checked as its type's,
 * located at the Heat property it came from, and one of the declaration's members (so a depends_on on
 * it waits for this one too). A name another resource of the stack has is an error.
 */
export function extraResource(
  L: HeatLoader,
  scope: TemplateScope,
  decl: Decl,
  x: ExtraResource,
  at: (path: (string | number)[]) => SourceRange | undefined,
  propField: (path: (string | number)[]) => string,
): void {
  const where = at(x.path);
  const base = parseAddress(x.name)?.name ?? x.name;
  if (L.config.resources.has(x.name) || scope.decls.has(base)) {
    L.diags.error(
      `needs a ${x.type} named ${x.name} beside the server, but the template has a resource of that name: rename it`,
      propField(x.path),
      where,
    );
    L.config.invalid!.add(x.name);
    return;
  }
  const { properties, problems } = normalizeValues(x.type, x.displayName, x.inputs, scope.dir);
  for (const p of problems) L.diags.error(p.message, propField(x.path), where);
  const opts = normalizeOptions(x.type, undefined, undefined);
  const rc: ResourceConfig = {
    name: x.name,
    type: x.type,
    properties,
    dependsOn: [],
    locate: () => where,
    lifecycle: { ...opts.lifecycle },
    timeouts: opts.timeouts,
  };
  if (problems.length) L.config.invalid!.add(x.name);
  else L.config.resources.set(x.name, rc);
  // Not one of the declaration's members: a depends_on on the server waits for it through the server
  // (a boot volume) or needs not (an attachment, which would close a cycle with a volume waiting for it).
  L.made.push({ rc, deps: [] });
  void decl;
}

/** deletion_policy: Retain maps onto preventDestroy (the engine refuses plans destroying it). */
export function retained(_L: HeatLoader, scope: TemplateScope, decl: Decl): boolean {
  return scope.src.js(scope.src.get(decl.node, 'deletion_policy')) === 'Retain';
}

export function retain(L: HeatLoader, scope: TemplateScope, decl: Decl, field: string): void {
  const { src } = scope;
  const n = src.get(decl.node, 'deletion_policy');
  if (n === undefined) return;
  const v = src.js(n);
  if (v === 'Retain' || v === 'Delete') return;
  if (v === 'Snapshot')
    L.diags.warning(
      'deletion_policy Snapshot is not supported: the resource is deleted without a snapshot',
      `${field}.deletion_policy`,
      src.pos(n),
    );
  else L.diags.error('must be Delete, Retain or Snapshot', `${field}.deletion_policy`, src.pos(n));
}

/** The declared depends_on of a resource (a name or a list of names). */
export function dependsOn(L: HeatLoader, scope: TemplateScope, decl: Decl): Dep[] {
  const { src } = scope;
  const n = src.get(decl.node, 'depends_on');
  if (n === undefined || n === null) return [];
  if (isScalar(n)) return [{ name: String(n.value), node: n, scope }];
  if (isSeq(n))
    return n.items.map((x) => src.deref(x)).map((x) => ({ name: String(src.js(x)), node: x, scope }));
  L.diags.error('must be a resource name or a list of them', `resources.${decl.name}.depends_on`, src.pos(n));
  return [];
}

/** Turns each made resource's depends_on into the Stratus names of what those resources became. */
export function resolveDependencies(L: HeatLoader): void {
  const reported = new Set<unknown>();
  for (const { rc, deps } of L.made) {
    const out = new Set<string>();
    for (const dep of deps) {
      const decl = dep.scope.decls.get(dep.name);
      if (!decl) {
        if (!reported.has(dep.node))
          L.diags.error(
            `names no resource of the template (resources: ${listNames([...dep.scope.decls.keys()])})`,
            `resources.${rc.name}.depends_on`,
            dep.scope.src.pos(dep.node),
          );
        reported.add(dep.node);
        continue;
      }
      for (const m of L.nativeUnder(decl)) if (m !== rc.name) out.add(m);
    }
    rc.dependsOn = [...out];
  }
}

/** The Stratus names of the native resources a declaration made (itself, a group's members, a nested stack's). */
export function nativeUnder(L: HeatLoader, decl: Decl): string[] {
  return L.members.get(decl) ?? [];
}

/**
 * A reference to a resource of Stratus type `type`: references pass; a name is looked up among the
 * native resources of every template loaded (their `name` property, else their resource name).
 */
export function lookup(
  L: HeatLoader,
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
    L.diags.error(
      `${notYet(heat)} (this property names one)`,
      `${field}.properties.${formatPath(path)}`,
      at(path),
    );
    return undefined;
  }
  if (typeof v !== 'string') {
    L.diags.error(
      `must name a ${type} (its name, or {get_resource: NAME})`,
      `${field}.properties.${formatPath(path)}`,
      at(path),
    );
    return undefined;
  }
  const found = L.byName(type, v);
  if (found.length === 1) return new Ref(found[0]!, [], `{get_resource: ${found[0]}}`);
  const heat = Object.entries(HEAT_TYPES).find(([, m]) => m.stratus === type)?.[0] ?? type;
  if (found.length > 1) {
    // As Heat (PhysicalResourceNameAmbiguity): a name several objects have names none of them.
    L.diags.error(
      `${found.length} ${heat} resources are named ${JSON.stringify(v)} (${found.join(', ')}): use {get_resource: NAME}`,
      `${field}.properties.${formatPath(path)}`,
      at(path),
    );
    return undefined;
  }
  const m = L.outside(type, v, heat, JSON.stringify(v));
  if ('found' in m) return m.found.id;
  L.diags.error(m.problem, `${field}.properties.${formatPath(path)}`, at(path));
  void scope;
  return undefined;
}

/**
 * A name (or id) that no resource of the template has, looked up among the existing objects the load
 * was given (existing.ts): the object, or the problem to report. When the type's objects were not
 * given, the type is recorded in `L.lookups` (the caller lists them and loads again) and the problem
 * says they were not looked up.
 */
export function outside(
  L: HeatLoader,
  type: ResourceType,
  v: string,
  what: string,
  quote: string,
): { found: ExistingObject } | { problem: string } {
  const m = findExisting(L.opts.existing, type, v, what, quote);
  if (!('unlisted' in m)) return m;
  L.lookups.add(type);
  return {
    problem: `no ${what} named ${quote} in the template, and existing ${type}s were not looked up here (the CLI looks them up on the agent): declare it, or give {get_resource: NAME}`,
  };
}

/**
 * The Stratus names of the native resources of `type` named `name`: by their name property (or the
 * parameter that gives it), else, when none is, the resource of that resource name. Neutron and Glance
 * names need not be unique, so there may be several (Heat then refuses the name as ambiguous).
 */
export function byName(L: HeatLoader, type: string, name: string): string[] {
  const named: string[] = [];
  let byResource: string | undefined;
  for (const s of L.scopes)
    for (const d of s.decls.values()) {
      if (d.kind !== 'native' || d.mapping!.stratus !== type || !d.enabled) continue;
      const nameKey = Object.entries(d.mapping!.properties).find(([, r]) => r.to === 'name')?.[0] ?? 'name';
      const pn = s.src.get(s.src.get(d.node, 'properties'), nameKey);
      const n = s.src.js(pn);
      if (n === name) named.push(`${s.prefix}${d.name}`);
      else if (n === undefined && d.name === name) byResource = `${s.prefix}${d.name}`;
      else if (isMap(pn) && pn.items.length === 1) {
        // A name given by a parameter: its value.
        const p = n as Record<string, unknown>;
        if (typeof p.get_param === 'string' && s.params.get(p.get_param)?.value === name)
          named.push(`${s.prefix}${d.name}`);
      }
    }
  return named.length ? named : byResource ? [byResource] : [];
}

/**
 * The server of the stack whose first NIC is the port `port` ({get_resource: PORT}), as a reference;
 * undefined when none is (or `port` is no plain resource reference).
 */
export function serverOfPort(L: HeatLoader, port: Value): Value | undefined {
  if (!(port instanceof Ref) || port.path.length) return undefined;
  for (const s of L.scopes)
    for (const d of s.decls.values()) {
      if (d.kind !== 'native' || d.mapping!.stratus !== 'server' || !d.enabled) continue;
      const nets = s.src.js(s.src.get(s.src.get(d.node, 'properties'), 'networks'));
      const first = Array.isArray(nets) ? (nets[0] as Record<string, unknown> | undefined) : undefined;
      const ref =
        first && typeof first === 'object' ? (first.port as Record<string, unknown> | undefined) : undefined;
      if (ref && typeof ref === 'object' && typeof ref.get_resource === 'string')
        if (`${s.prefix}${ref.get_resource}` === port.resource) {
          const full = `${s.prefix}${d.name}`;
          return new Ref(full, [], `{get_resource: ${full}}`);
        }
    }
  return undefined;
}

/** Pairs of [network reference, network name] of every network in the stack, for a server's `networks` attribute. */
export function networkNames(L: HeatLoader): Value {
  const out: Value[] = [];
  for (const s of L.scopes)
    for (const d of s.decls.values()) {
      if (d.kind !== 'native' || d.mapping!.stratus !== 'network' || !d.enabled) continue;
      const n = s.src.js(s.src.get(s.src.get(d.node, 'properties'), 'name'));
      const full = `${s.prefix}${d.name}`;
      out.push([new Ref(full, [], `{get_resource: ${full}}`), typeof n === 'string' ? n : d.name]);
    }
  return out;
}

/** get_attr of a native resource: the Stratus attribute the mapping names, with the rest of the path. */
export function nativeAttr(
  L: HeatLoader,
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
    networkNames: () => L.networkNames(),
    serverOfPort: () => undefined,
    self: () => self,
    extraName: (suffix) => `${name}_${suffix}`,
    addResource: () => self,
  });
  return index(v, path, node);
}
