import type { TSchema } from '@sinclair/typebox';
import { Diagnostics, type SourceRange } from '../diagnostics/index.js';
import type { HandlerSet } from '../handlers/types.js';
import { attrMeta, formatPath, type ResourceType, schemas } from '../model/index.js';
import type { StackConfig } from './config.js';
import { type Ref, walkRefs } from './expr.js';
import { Graph } from './graph.js';

/** The schema of the value at `path` below `schema`, following objects, arrays and records. */
export function schemaAt(
  schema: TSchema | undefined,
  path: readonly (string | number)[],
): TSchema | undefined {
  let s = schema as (TSchema & Record<string, unknown>) | undefined;
  for (const seg of path) {
    if (!s) return undefined;
    if (s.type === 'array') s = s.items as typeof s;
    else if (s.type === 'object' && typeof seg === 'string') {
      const props = s.properties as Record<string, typeof s> | undefined;
      const pattern = s.patternProperties as Record<string, typeof s> | undefined;
      s = props?.[seg] ?? (pattern ? Object.values(pattern)[0] : undefined);
    } else return undefined;
  }
  return s;
}

/** All attributes of a type (inputs and outputs) plus `id`, as one object schema. */
function attributeSchema(type: ResourceType): TSchema {
  const s = schemas[type];
  return {
    type: 'object',
    properties: { id: { type: 'string' }, ...s.inputs.properties, ...s.outputs.properties },
  } as unknown as TSchema;
}

/**
 * Checks what a single resource cannot: that references name existing resources and attributes, that
 * references in typed fields point at the right type, the types' own rules, and that the dependency
 * graph has no cycle. Returns the graph (`a -> b`: a depends on b) and all diagnostics.
 */
export function checkStack(
  config: StackConfig,
  handlers: HandlerSet,
): { graph: Graph; diagnostics: Diagnostics } {
  const diags = new Diagnostics();
  const graph = new Graph();
  /** Where each dependency edge came from, to point at it when it closes a cycle. */
  const edgeAt = new Map<string, { field: string; locate: () => SourceRange | undefined }>();

  for (const rc of config.resources.values()) graph.add(rc.name);

  /** Why a reference is wrong, or undefined when it is fine. */
  const refProblem = (ref: Ref, expect: ResourceType | undefined): string | undefined => {
    const target = config.resources.get(ref.resource);
    if (!target && config.invalid?.has(ref.resource)) return undefined;
    if (!target) {
      const known = [...config.resources.keys()].sort().join(', ') || 'none';
      return `reference ${ref.text} names no resource in this stack (resources: ${known})`;
    }
    if (expect) {
      if (target.type !== expect)
        return `expects a reference to a ${expect}, but ${ref.text} is a ${target.type}`;
      if (ref.path.length > 0 && !(ref.path.length === 1 && ref.path[0] === 'id'))
        return `expects a ${expect} reference such as \${${ref.resource}}, not an attribute`;
    } else if (ref.path.length > 0 && !schemaAt(attributeSchema(target.type), ref.path)) {
      return `${target.type} ${ref.resource} has no attribute ${formatPath(ref.path)}`;
    }
    return undefined;
  };

  for (const rc of config.resources.values()) {
    const schema = schemas[rc.type].inputs;
    walkRefs(rc.properties, (ref, path) => {
      const field = `resources.${rc.name}.properties.${formatPath(path)}`;
      const expect = attrMeta(schemaAt(schema, path) ?? ({} as TSchema)).ref;
      const locate = () => rc.locate(['properties', ...path]);
      const problem = refProblem(ref, expect);
      if (problem) diags.error(problem, field, locate());
      else if (config.resources.has(ref.resource)) {
        graph.connect(rc.name, ref.resource);
        edgeAt.set(`${rc.name}>${ref.resource}`, { field, locate });
      }
    });
    rc.dependsOn.forEach((dep, i) => {
      const field = `resources.${rc.name}.dependsOn[${i}]`;
      if (config.invalid?.has(dep)) return;
      if (!config.resources.has(dep))
        diags.error(`names no resource in this stack: ${dep}`, field, rc.locate(['dependsOn', i]));
      else {
        graph.connect(rc.name, dep);
        edgeAt.set(`${rc.name}>${dep}`, { field, locate: () => rc.locate(['dependsOn', i]) });
      }
    });
    for (const p of handlers[rc.type].validate({ properties: rc.properties }).problems) {
      diags.error(
        p.message,
        `resources.${rc.name}.properties.${formatPath(p.path)}`,
        rc.locate(['properties', ...p.path]),
      );
    }
  }

  for (const out of config.outputs.values()) {
    walkRefs(out.value, (ref) => {
      const problem = refProblem(ref, undefined);
      if (problem) diags.error(problem, `outputs.${out.name}`, out.locate([]));
    });
  }

  for (const cycle of graph.cycles()) {
    const first = edgeAt.get(`${cycle[0]}>${cycle[1]}`);
    diags.error(`dependency cycle: ${cycle.join(' -> ')}`, first?.field, first?.locate());
  }
  return { graph, diagnostics: diags };
}
