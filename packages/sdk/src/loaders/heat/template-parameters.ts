/**
 * A template's parameters section: declarations, values (given, -P, environments, defaults),
 * constraints, parameter_groups, custom constraints checked against the stack.
 */
import { basename } from 'node:path';
import { isResourceType } from '@stratus/model';
import type { SourceRange } from '../../diagnostics/index.js';
import { listNames } from '../../diagnostics/limits.js';
import type { Value } from '../../engine/expr.js';
import type { Given, Param, TemplateScope } from './common.js';
import type { HeatLoader } from './load.js';

/** The keys a parameter declaration may have. */
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

import {
  type Constraint,
  CUSTOM_CONSTRAINTS,
  checkConstraint,
  convertParameter,
  PARAMETER_TYPES,
  type ParameterType,
} from './parameters.js';
import { isMap, isSeq, type YamlSource } from './yaml-source.js';

export function parameters(L: HeatLoader, scope: TemplateScope, given: Given | undefined): void {
  const { src } = scope;
  const d = L.diags;
  const node = src.get(src.root, 'parameters');
  if (node === undefined || node === null) {
    if (!given) L.unknownInputs(scope);
    else
      for (const [k, g] of given.values)
        d.error(`the template ${src.file} has no parameter ${k}`, `properties.${k}`, L.posOf(g.node, given));
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
    const immutable = src.js(src.get(decl, 'immutable'));
    const p: Param = {
      name,
      type: type as ParameterType,
      hidden: hidden === true,
      immutable: immutable === true,
      constraints: [],
      node: kn,
    };
    if (hidden !== undefined && typeof hidden !== 'boolean')
      d.error('must be true or false', `${field}.hidden`, src.pos(src.get(decl, 'hidden')));
    if (immutable !== undefined && typeof immutable !== 'boolean')
      d.error('must be true or false', `${field}.immutable`, src.pos(src.get(decl, 'immutable')));
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
      if (g) raw = { value: g.value, at: L.posOf(g.node, given) };
    } else {
      const cli = L.opts.parameters?.get(name);
      const envP = L.env.parameters.get(name);
      if (cli !== undefined) raw = { value: cli, from: ` (from -P ${name}=...)` };
      else if (envP) raw = { value: envP.value as Value, at: envP.range };
    }
    if (!raw) {
      const pd = L.env.parameterDefaults.get(name);
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
    } else if (!L.opts.lenient) {
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
          L.posOf(g.node, given),
        );
  } else L.unknownInputs(scope);
}

/** Values given for parameters the top-level template does not declare (as Heat, an error). */
export function unknownInputs(L: HeatLoader, scope: TemplateScope): void {
  const names = [...scope.params.keys()];
  const known = names.length ? ` (parameters: ${listNames(names)})` : ' (it declares none)';
  for (const k of L.opts.parameters?.keys() ?? [])
    if (!scope.params.has(k))
      L.diags.error(
        `-P ${k}: the template has no parameter ${k}${known}`,
        `parameters.${k}`,
        scope.src.pos(scope.src.root),
      );
  for (const [k, v] of L.env.parameters)
    if (!scope.params.has(k))
      L.diags.error(`the template has no parameter ${k}${known}`, `parameters.${k}`, v.range);
}

/** Where a node of the parent template is (a property given to a provider template), else `fallback`. */
export function posOf(
  _L: HeatLoader,
  node: unknown,
  given: { src: YamlSource; at: SourceRange },
): SourceRange {
  return (node as { range?: unknown } | null)?.range !== undefined ? given.src.pos(node) : given.at;
}

export function parameterGroups(L: HeatLoader, scope: TemplateScope): void {
  const { src } = scope;
  const groups = src.get(src.root, 'parameter_groups');
  if (groups === undefined || groups === null) return;
  if (!isSeq(groups)) {
    L.diags.error(
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
      L.diags.error('a group is a mapping with label, description and parameters', field, src.pos(g));
      return;
    }
    for (const [k, kk] of src.pairs(g))
      if (k !== 'label' && k !== 'description' && k !== 'parameters')
        L.diags.error('unknown key; expected label, description, parameters', `${field}.${k}`, src.pos(kk));
    const ps = src.get(g, 'parameters');
    if (!isSeq(ps)) {
      L.diags.error('must be a list of parameter names', `${field}.parameters`, src.pos(ps ?? g));
      return;
    }
    ps.items.forEach((p0, j) => {
      const p = src.deref(p0);
      const name = src.js(p);
      if (typeof name !== 'string' || !scope.params.has(name))
        L.diags.error(
          `names no parameter of the template${typeof name === 'string' ? `: ${name}` : ''}`,
          `${field}.parameters[${j}]`,
          src.pos(p),
        );
      else if (seen.has(name))
        L.diags.error(
          `parameter ${name} is already in parameter_groups[${seen.get(name)}]: a parameter belongs to one group`,
          `${field}.parameters[${j}]`,
          src.pos(p),
        );
      else seen.set(name, i);
    });
  });
}

/**
 * Custom constraints of the top-level parameters: the value must name (or be the id of) a resource of
 * the type in the stack, or an existing object of the type on the agent (existing.ts).
 */
export function checkCustomConstraints(L: HeatLoader, root: TemplateScope): void {
  for (const p of root.params.values()) {
    if (typeof p.value !== 'string') continue;
    for (const c of p.constraints) {
      if (c.kind !== 'custom_constraint') continue;
      const t = CUSTOM_CONSTRAINTS[String(c.spec)];
      if (!t) {
        L.diags.warning(
          `custom constraint ${String(c.spec)} is not checked by Stratus`,
          `parameters.${p.name}`,
          root.src.at(c.offset),
        );
        continue;
      }
      if (!isResourceType(t)) continue;
      // As Heat's constraint (find_resource_by_name_or_id): a resource of the stack, else an existing object.
      if (L.byName(t, p.value).length > 0) continue;
      const m = L.outside(t, p.value, t, p.hidden ? '(hidden)' : JSON.stringify(p.value));
      if ('problem' in m)
        L.diags.error(
          `parameter ${p.name} (custom constraint ${String(c.spec)}): ${c.description ?? m.problem}`,
          `parameters.${p.name}`,
          p.valueAt ?? root.src.at(c.offset),
        );
    }
  }
}
