/**
 * OS::Heat::ResourceGroup (count, %index%, its members' attributes) and provider (nested) templates.
 */
import { basename } from 'node:path';
import { listNames } from '../../diagnostics/limits.js';
import { Ref, type Value } from '../../engine/expr.js';
import { instanceName } from '../../expand/address.js';
import { isSymbolic } from '../../expand/evaluate.js';
import { type Decl, HeatError, index, MAX_DEPTH, MAX_GROUP, Reported, type TemplateScope } from './common.js';
import type { HeatLoader } from './load.js';
import { HEAT_TYPES, notYet, UNSUPPORTED_FEATURES } from './types.js';
import { isMap, YamlSource } from './yaml-source.js';

export function group(L: HeatLoader, scope: TemplateScope, decl: Decl): NonNullable<Decl['value']> {
  const { src } = scope;
  const field = `resources.${decl.name}`;
  const propsNode = src.get(decl.node, 'properties');
  if (!isMap(propsNode)) throw new HeatError('a ResourceGroup needs properties with resource_def', decl.node);
  for (const [k, kn] of src.pairs(propsNode))
    if (!['count', 'resource_def', 'index_var', 'removal_policies', 'removal_policies_mode'].includes(k))
      L.diags.error(
        'unknown property of OS::Heat::ResourceGroup; properties: count, resource_def, index_var, removal_policies, removal_policies_mode',
        `${field}.properties.${k}`,
        src.pos(kn),
      );
  const countNode = src.get(propsNode, 'count');
  const count = countNode === undefined ? 1 : L.ev(scope, countNode, {}, {});
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
  const indexVar = ivNode === undefined ? '%index%' : L.ev(scope, ivNode, {}, {});
  if (typeof indexVar !== 'string' || indexVar === '')
    throw new HeatError('index_var must be a non-empty string', ivNode);
  const rp = src.keyNode(propsNode, 'removal_policies');
  if (rp && JSON.stringify(src.js(src.get(propsNode, 'removal_policies'))) !== '[]')
    L.diags.warning(
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
      L.diags.error(
        'unknown key; expected type, properties, metadata',
        `${field}.properties.resource_def.${k}`,
        src.pos(kn),
      );
  const typeNode = src.get(def, 'type');
  const written = src.js(typeNode);
  if (typeof written !== 'string') throw new HeatError('resource_def needs a type', def);
  const t = L.resolveType(scope, written, typeNode);
  const memberNames: string[] = [];
  const members: { id: Value; attr: (a: string, path: (string | number)[], node: unknown) => Value }[] = [];
  L.members.set(decl, memberNames);
  if (t.kind === 'missing') {
    L.diags.error(
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
      L.nativeResource(scope, member, name, propsDef, subs, def, `${scope.prefix}${decl.name}-${i}`);
      // depends_on of the group applies to each member.
      const last = L.made[L.made.length - 1];
      if (last && last.rc.name === name) last.deps = L.dependsOn(scope, decl);
      memberNames.push(name);
      members.push({
        id: new Ref(name, [], `{get_resource: ${name}}`),
        attr: (a, path, node) => L.nativeAttr(name, HEAT_TYPES[t.type]!, t.type, a, path, node),
      });
    } else {
      const prefix = `${scope.prefix}${decl.name}-${i}`;
      const nested = L.nested(scope, decl, t.file!, prefix, propsDef, subs, memberNames);
      members.push({ id: nested.id, attr: nested.attrs });
    }
  }
  const memberAttr = (i: number, a: string | undefined, path: (string | number)[], node: unknown): Value => {
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
export function nested(
  L: HeatLoader,
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
  if (!L.files.has(file))
    L.files.set(
      file,
      YamlSource.read(file, L.diags, 'provider template', scope.src.pos(scope.src.get(decl.node, 'type'))),
    );
  const src = L.files.get(file);
  if (!src) throw new Reported();
  L.inputs.add(file);
  const { values, ok, taint } = L.properties(scope, decl, propsNode, subs, field);
  if (!ok) throw new Reported();
  const given = new Map<string, { value: Value; node: unknown }>();
  for (const [k, v] of values) given.set(k, { value: v.value, node: v.key });
  const before = L.made.length;
  const child = L.template(src, `${prefix}-`, scope.depth + 1, {
    values: given,
    taint,
    at: scope.src.pos(scope.src.get(decl.node, 'type')),
    src: scope.src,
  });
  if (!child) throw new Reported();
  const mine = L.made.slice(before).map((m) => m.rc.name);
  names.push(...mine);
  if (!L.members.has(decl) || L.members.get(decl) !== names) L.members.set(decl, names);
  // A depends_on of the provider resource applies to every resource inside it.
  const outer = L.dependsOn(scope, decl);
  for (const m of L.made.slice(before))
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
