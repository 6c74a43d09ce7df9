import type { TSchema } from '@sinclair/typebox';
import { type AttrMeta, formatPath, type ResourceType, schemas, UNKNOWN } from '@stratus/model';
import { Diagnostics } from '../diagnostics/index.js';
import { listNames } from '../diagnostics/limits.js';
import type { ProviderSet, Values } from '../protocol/types.js';
import { checkRootSources } from './boot-image.js';
import { checkServerImages } from './check-images.js';
import { checkInstallMedia } from './check-install-media.js';
import { checkServerNics, checkSubnetOverlaps } from './check-nics.js';
import { checkRouters } from './check-routers.js';
import { checkServerGroups } from './check-server-groups.js';
import { checkVolumeAttachments } from './check-volumes.js';
import { checkServerWaits } from './check-wait.js';
import { checkServerGuests } from './check-windows.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { Call, Ref, Template, type Value, walkRefs } from './expr.js';
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

const attributeSchemas = new Map<ResourceType, TSchema>();

/** The type a reference at `path` in a type's inputs must name, when the field is a typed reference. */
function expectedRef(inputs: TSchema, path: readonly (string | number)[]): ResourceType | undefined {
  return (schemaAt(inputs, path) as AttrMeta | undefined)?.ref as ResourceType | undefined;
}

/** All attributes of a type (inputs and outputs) plus `id`, as one object schema (made once per type). */
function attributeSchema(type: ResourceType): TSchema {
  let schema = attributeSchemas.get(type);
  if (!schema) {
    const s = schemas[type];
    schema = {
      type: 'object',
      properties: { id: { type: 'string' }, ...s.inputs.properties, ...s.outputs.properties },
    } as unknown as TSchema;
    attributeSchemas.set(type, schema);
  }
  return schema;
}

/**
 * Checks what a single resource cannot: that references name existing resources and attributes, that
 * references in typed fields point at the right type, the types' own rules, what servers' NICs need
 * from the stack's networks and subnets ({@link checkServerNics}), a server waiting for a DHCP lease its
 * subnet never hands out ({@link checkServerWaits}), subnets of a network that overlap,
 * volumes attached more often than they may be, a boot volume counted as attached ({@link
 * checkVolumeAttachments}), one root source per server ({@link checkRootSources}),
 * and that the dependency
 * graph has no cycle. Returns the graph (`a -> b`: a depends on b) and all diagnostics.
 */
export function checkStack(
  config: StackConfig,
  providers: ProviderSet,
): { graph: Graph; diagnostics: Diagnostics } {
  const diags = new Diagnostics();
  const graph = new Graph();
  let known: string | undefined;

  for (const rc of config.resources.values()) graph.add(rc.name);
  /** `type>target` -> names of resources of that type referencing target by id. */
  const referencedBy = new Map<string, string[]>();
  const implied: { from: string; target: string; type: string }[] = [];

  /** Why a reference is wrong, or undefined when it is fine. */
  const refProblem = (ref: Ref, expect: string | undefined): string | undefined => {
    const target = config.resources.get(ref.resource);
    if (!target && config.invalid?.has(ref.resource)) return undefined;
    if (!target) {
      known ??= listNames(config.resources.keys());
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
      const meta = schemaAt(schema, path) as AttrMeta | undefined;
      if (ref.path.length === 0) {
        const key = `${rc.type}>${ref.resource}`;
        // Pushed in place: copying the list on every reference is quadratic in a popular target.
        const list = referencedBy.get(key);
        if (list) list.push(rc.name);
        else referencedBy.set(key, [rc.name]);
        if (meta?.refIncludes) implied.push({ from: rc.name, target: ref.resource, type: meta.refIncludes });
      }
      const problem = refProblem(ref, meta?.ref);
      if (problem)
        diags.error(problem, fieldOf(rc, ['properties', ...path]), rc.locate(['properties', ...path]));
      else if (config.resources.has(ref.resource)) graph.connect(rc.name, ref.resource);
    });
    rc.dependsOn.forEach((dep, i) => {
      if (config.invalid?.has(dep)) return;
      if (!config.resources.has(dep))
        diags.error(
          `names no resource in this stack: ${dep}`,
          fieldOf(rc, ['dependsOn', i]),
          rc.locate(['dependsOn', i]),
        );
      else graph.connect(rc.name, dep);
    });
    // Every loader (stack file, program) validated the properties against the schema, with positions.
    const checked = { config: withUnknowns(rc.properties) as Values, schemaChecked: true };
    for (const d of providers[rc.type].validate(checked).diagnostics) {
      const path = d.path ?? [];
      const field = fieldOf(rc, ['properties', ...path]);
      if (d.severity === 'error') diags.error(d.summary, field, rc.locate(['properties', ...path]));
      else diags.warning(d.summary, field, rc.locate(['properties', ...path]));
    }
  }

  for (const out of config.outputs.values()) {
    walkRefs(out.value, (ref) => {
      const problem = refProblem(ref, undefined);
      if (problem) diags.error(problem, `outputs.${out.name}`, out.locate([]));
    });
  }

  /**
   * Where `rc` declares its dependency on `dep`, relative to its declaration: the last declaration when
   * there are several. Looked up only for an edge closing a cycle, rather than recorded for every edge.
   */
  const edgeOrigin = (rc: ResourceConfig, dep: string): (string | number)[] | undefined => {
    let at: (string | number)[] | undefined;
    const schema = schemas[rc.type].inputs;
    walkRefs(rc.properties, (ref, path) => {
      if (ref.resource === dep && !refProblem(ref, expectedRef(schema, path))) at = ['properties', ...path];
    });
    rc.dependsOn.forEach((d, i) => {
      if (d === dep && !config.invalid?.has(d)) at = ['dependsOn', i];
    });
    return at;
  };

  checkServerNics(config, diags);
  checkServerWaits(config, diags);
  checkSubnetOverlaps(config, diags);
  checkRootSources(config, diags);
  checkServerImages(config, diags);
  checkServerGroups(config, diags);
  checkServerGuests(config, diags);
  checkInstallMedia(config, diags);
  checkVolumeAttachments(config, diags);
  for (const [from, to] of checkRouters(config, diags)) graph.connect(from, to);

  // Implied edges: `refIncludes` makes a reference to X also a dependency on the resources of the named
  // type that reference X themselves (found in one pass, kept in maps: stacks can be large).
  for (const { from, target, type } of implied)
    for (const o of referencedBy.get(`${type}>${target}`) ?? []) if (o !== from) graph.connect(from, o);

  for (const cycle of graph.cycles()) {
    const rc = config.resources.get(cycle[0]!);
    const at = rc && edgeOrigin(rc, cycle[1]!);
    diags.error(`dependency cycle: ${cycle.join(' -> ')}`, at && fieldOf(rc, at), at && rc.locate(at));
  }
  return { graph, diagnostics: diags };
}

/** Configuration values as a provider validates them: every reference is UNKNOWN. */
export function withUnknowns(v: Value): unknown {
  if (v instanceof Ref || v instanceof Template || v instanceof Call) return UNKNOWN;
  if (Array.isArray(v)) return v.map(withUnknowns);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = withUnknowns(v[k]!);
    return out;
  }
  return v;
}
