import type { Static, TObject, TOptional, TProperties, TSchema } from '@sinclair/typebox';
import { type AttrMeta, attrMeta } from './meta.js';

/** Default time limits of a type's operations, in milliseconds. */
export interface OperationTimeouts {
  create: number;
  update: number;
  delete: number;
}

/** A problem in a resource's attribute values, at a path inside them. */
export interface AttributeProblem {
  path: (string | number)[];
  message: string;
}

/**
 * One resource type, defined once: its schema (the single source of truth for its attributes) and the
 * pure behaviour that goes with it. The engine, the provider protocol, the CLI, constructs, the agent's
 * request validation and the Terraform/Pulumi schemas are all derived from this.
 */
export interface ResourceSchema<I extends TProperties = TProperties, O extends TProperties = TProperties> {
  /** The type's name, as stack files write it (`server`). */
  type: string;
  /** Plural path segment of the agent API, e.g. `servers` in `/v1/servers/{id}`. */
  collection: string;
  description: string;
  /** Attributes the user sets (some optional, some with defaults, some also computed). */
  inputs: TObject<I>;
  /** Attributes only the agent sets. */
  outputs: TObject<O>;
  /**
   * Version of the attribute layout (default 1). State recorded under an older version is passed to
   * {@link ResourceSchema.upgrade} before use.
   */
  version?: number;
  /** Default operation time limits (default: 5 minutes each). */
  timeouts?: Partial<OperationTimeouts>;
  /**
   * The type's own rules beyond what JSON Schema can say (e.g. a pool inside its subnet). Called with
   * input values after defaults, in which values not known yet are UNKNOWN. The agent runs the same
   * check on requests, so its limits are exactly these.
   */
  check?(inputs: Readonly<Record<string, unknown>>): AttributeProblem[];
  /**
   * Adjusts planned attributes in place: values the type derives from others (e.g. the machine type
   * from the firmware). Called for creates and updates with the planned attributes (UNKNOWN allowed) and,
   * for updates, the prior attributes (a server's size is unknown again when its flavor changes).
   */
  plan?(planned: Record<string, unknown>, prior?: Readonly<Record<string, unknown>> | null): void;
  /**
   * The inputs as a host is sent them, from the known planned inputs: values the host derives from others
   * are left out, since state carries them as computed inputs (a server's vcpus and memoryMb when it has a
   * flavor, which the agent would refuse beside the flavor). Default: all of them.
   */
  toRequest?(inputs: Record<string, unknown>): Record<string, unknown>;
  /**
   * The type's rules on a change of an existing resource (e.g. a volume may grow, never shrink): called at
   * plan for an in-place update with the prior attributes and the planned ones (UNKNOWN allowed). The agent
   * enforces the same rule on requests.
   */
  checkUpdate?(
    prior: Readonly<Record<string, unknown>>,
    planned: Readonly<Record<string, unknown>>,
  ): AttributeProblem[];
  /**
   * Whether attributes just read show the object was changed outside Stratus in a way an update
   * repairs (a stopped or vanished domain, a deleted bridge); says what, in words.
   */
  drift?(attributes: Readonly<Record<string, unknown>>): string | undefined;
  /** Rewrites attributes recorded under schema version `fromVersion` into the current layout. */
  upgrade?(attributes: Record<string, unknown>, fromVersion: number): Record<string, unknown>;
}

/** Default operation time limits: 5 minutes each. */
export const DEFAULT_TIMEOUTS: OperationTimeouts = { create: 300_000, update: 300_000, delete: 300_000 };

/** A type's operation time limits, with the defaults filled in. */
export function timeoutsOf(s: ResourceSchema): OperationTimeouts {
  return { ...DEFAULT_TIMEOUTS, ...s.timeouts };
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

/**
 * The keys of an object schema's properties that a user may leave out: optional in the schema, or with a
 * default (see `Defaulted`). The construct props of every front end (sdk constructs, cdktf classes) make
 * exactly these optional.
 */
export type OptionalKeys<P extends TProperties> = {
  [K in keyof P]: P[K] extends TOptional<TSchema>
    ? K
    : P[K] extends { readonly default: unknown }
      ? K
      : never;
}[keyof P];

/** Input attributes of a resource type, as a TypeScript type. */
export type InputsOf<S> = S extends ResourceSchema<infer I, TProperties> ? Static<TObject<I>> : never;
/** All attributes (inputs + outputs) of a resource type, as a TypeScript type. */
export type AttributesOf<S> =
  S extends ResourceSchema<infer I, infer O> ? Static<TObject<I>> & Static<TObject<O>> : never;

/** Declares a resource schema (identity function that keeps literal types). */
export function defineResource<I extends TProperties, O extends TProperties, T extends string>(
  s: ResourceSchema<I, O> & { type: T },
): ResourceSchema<I, O> & { type: T } {
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
