import type { Static, TObject, TProperties, TSchema } from '@sinclair/typebox';
import { type AttrMeta, attrMeta, type ResourceType } from './meta.js';

/** The schema of one resource type: the single source of truth for its attributes. */
export interface ResourceSchema<I extends TProperties = TProperties, O extends TProperties = TProperties> {
  type: ResourceType;
  /** Plural path segment of the agent API, e.g. `servers` in `/v1/servers/{id}`. */
  collection: string;
  description: string;
  /** Attributes the user sets (some optional, some with defaults, some also computed). */
  inputs: TObject<I>;
  /** Attributes only the agent sets. */
  outputs: TObject<O>;
}

/** One attribute of a resource with everything known about it. */
export interface AttributeInfo extends AttrMeta {
  name: string;
  schema: TSchema;
  /** Part of `inputs` (the user may set it). */
  input: boolean;
  required: boolean;
  default?: unknown;
  description: string;
}

/** Input attributes of a resource type, as a TypeScript type. */
export type InputsOf<S> = S extends ResourceSchema<infer I, TProperties> ? Static<TObject<I>> : never;
/** All attributes (inputs + outputs) of a resource type, as a TypeScript type. */
export type AttributesOf<S> =
  S extends ResourceSchema<infer I, infer O> ? Static<TObject<I>> & Static<TObject<O>> : never;

/** Declares a resource schema (identity function that keeps literal types). */
export function defineResource<I extends TProperties, O extends TProperties>(
  s: ResourceSchema<I, O>,
): ResourceSchema<I, O> {
  return s;
}

const attributeCache = new WeakMap<ResourceSchema, AttributeInfo[]>();

/** Lists the attributes of a resource schema with their metadata (computed once per schema; do not mutate). */
export function attributes(s: ResourceSchema): AttributeInfo[] {
  const cached = attributeCache.get(s);
  if (cached) return cached;
  const out: AttributeInfo[] = [];
  const req = new Set(s.inputs.required ?? []);
  for (const [name, schema] of Object.entries(s.inputs.properties)) {
    out.push({
      ...attrMeta(schema),
      name,
      schema,
      input: true,
      required: req.has(name),
      default: (schema as { default?: unknown }).default,
      description: schema.description ?? '',
    });
  }
  for (const [name, schema] of Object.entries(s.outputs.properties)) {
    out.push({
      ...attrMeta(schema),
      computed: true,
      name,
      schema,
      input: false,
      required: false,
      description: schema.description ?? '',
    });
  }
  attributeCache.set(s, out);
  return out;
}
