/**
 * Terraform schemas derived from the Stratus registry: one `stratus_<type>` resource per registered type,
 * with no per-type code. Attribute names are the model's in snake_case (Terraform requires lowercase
 * names); types, required/optional/computed/sensitive and descriptions come from each attribute's JSON
 * Schema and metadata. Source of the rules: Terraform's plugin protocol 6 (`Schema.Attribute`,
 * `Schema.Object`) and its configschema name rule (`^[a-z0-9_]+$`).
 */
import type { TSchema } from '@sinclair/typebox';
import { attributes, type ResourceSchema, registry } from '@stratus/model';

/** A Terraform type constraint, as its compact JSON: `"string"`, `["list", T]`, `["object", {...}]`. */
export type TfType =
  | 'string'
  | 'number'
  | 'bool'
  | readonly ['list', TfType]
  | readonly ['map', TfType]
  | readonly ['object', Readonly<Record<string, TfType>>];

/** How a value is shaped, with the model's key for each Terraform attribute name of an object. */
export type Shape =
  | { kind: 'primitive'; type: 'string' | 'number' | 'bool' }
  | { kind: 'list'; item: Shape }
  | { kind: 'map'; item: Shape }
  | { kind: 'object'; fields: ShapeField[] };

/** One attribute of an object shape. */
export interface ShapeField {
  /** Terraform's name (snake_case). */
  tf: string;
  /** The model's name (camelCase). */
  key: string;
  shape: Shape;
  required: boolean;
}

/** One attribute of a Terraform schema block, with what plan needs to know about it. */
export interface TfAttribute extends ShapeField {
  optional: boolean;
  computed: boolean;
  sensitive: boolean;
  description: string;
  /** The value an unset attribute gets (the model's default). */
  default?: unknown;
  requiresReplace: boolean;
  /** Set by the user (an input of the model), as opposed to only by the host. */
  input: boolean;
  /** A list of objects set by the user: served as a nested attribute. */
  nested: boolean;
  /** A file path on the machine running Terraform (the model's `localPath`). */
  localPath?: boolean;
}

/** A block: the attributes of one resource, data source or provider configuration. */
export interface TfBlock {
  description: string;
  attributes: TfAttribute[];
  /** The object shape of the whole block (for values). */
  shape: Shape & { kind: 'object' };
}

/** `memoryMb` -> `memory_mb`, `accessIpV4` -> `access_ip_v4`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** The shape of a JSON Schema value (TypeBox): objects with properties, records, arrays, primitives. */
export function shapeOf(s: TSchema): Shape {
  const x = s as TSchema & {
    type?: string;
    anyOf?: TSchema[];
    items?: TSchema;
    properties?: Record<string, TSchema>;
    patternProperties?: Record<string, TSchema>;
    additionalProperties?: TSchema | boolean;
    required?: string[];
  };
  if (x.anyOf) {
    const kinds = new Set(x.anyOf.map((b) => shapeOf(b)).map((b) => JSON.stringify(b)));
    if (kinds.size === 1) return shapeOf(x.anyOf[0]!);
    return { kind: 'primitive', type: 'string' };
  }
  if (x.const !== undefined)
    return { kind: 'primitive', type: typeof x.const === 'number' ? 'number' : 'string' };
  switch (x.type) {
    case 'integer':
    case 'number':
      return { kind: 'primitive', type: 'number' };
    case 'boolean':
      return { kind: 'primitive', type: 'bool' };
    case 'array':
      return { kind: 'list', item: x.items ? shapeOf(x.items) : { kind: 'primitive', type: 'string' } };
    case 'object': {
      if (x.properties && Object.keys(x.properties).length > 0) {
        const req = new Set(x.required ?? []);
        return {
          kind: 'object',
          fields: Object.entries(x.properties).map(([key, p]) => ({
            tf: snakeCase(key),
            key,
            shape: shapeOf(p),
            required: req.has(key),
          })),
        };
      }
      const values = x.patternProperties ? Object.values(x.patternProperties)[0] : x.additionalProperties;
      return {
        kind: 'map',
        item: values && typeof values === 'object' ? shapeOf(values) : { kind: 'primitive', type: 'string' },
      };
    }
    default:
      return { kind: 'primitive', type: 'string' };
  }
}

/** The Terraform type constraint of a shape. */
export function tfType(s: Shape): TfType {
  switch (s.kind) {
    case 'primitive':
      return s.type;
    case 'list':
      return ['list', tfType(s.item)];
    case 'map':
      return ['map', tfType(s.item)];
    case 'object':
      return ['object', Object.fromEntries(s.fields.map((f) => [f.tf, tfType(f.shape)]))];
  }
}

/** The `id` every resource has: the Stratus id, chosen at create. */
const ID_ATTRIBUTE: TfAttribute = {
  tf: 'id',
  key: 'id',
  shape: { kind: 'primitive', type: 'string' },
  required: false,
  optional: false,
  computed: true,
  sensitive: false,
  description: 'The Stratus id of the resource (a UUID chosen at create, or the id an import gave it).',
  requiresReplace: false,
  input: false,
  nested: false,
};

/** The block of a resource type, derived from its schema alone. */
export function resourceBlock(schema: ResourceSchema): TfBlock {
  const out: TfAttribute[] = [ID_ATTRIBUTE];
  for (const a of attributes(schema)) {
    const shape = shapeOf(a.schema);
    const hasDefault = a.default !== undefined;
    const required = a.input && a.required && !hasDefault;
    out.push({
      tf: snakeCase(a.name),
      key: a.name,
      shape,
      required,
      optional: a.input && !required,
      computed: !a.input || hasDefault || a.computed === true,
      sensitive: a.sensitive === true,
      description: a.description,
      ...(hasDefault ? { default: a.default } : {}),
      requiresReplace: a.requiresReplace === true,
      input: a.input,
      nested: a.input && shape.kind === 'list' && shape.item.kind === 'object',
      ...(a.localPath ? { localPath: true } : {}),
    });
  }
  return blockOf(schema.description, out);
}

/** A block from its attributes. */
export function blockOf(description: string, attrs: TfAttribute[]): TfBlock {
  return {
    description,
    attributes: attrs,
    shape: {
      kind: 'object',
      fields: attrs.map((a) => ({ tf: a.tf, key: a.key, shape: a.shape, required: a.required })),
    },
  };
}

/** The data source `stratus_<type>` of a type with a `name`: every attribute, found by name. */
export function dataSourceBlock(schema: ResourceSchema): TfBlock | null {
  const block = resourceBlock(schema);
  if (!block.attributes.some((a) => a.key === 'name')) return null;
  return blockOf(
    `Looks up an existing ${schema.type} by its name. ${schema.description}`,
    block.attributes.map((a) => ({
      ...a,
      required: a.key === 'name',
      optional: false,
      computed: a.key !== 'name',
      requiresReplace: false,
      nested: false,
      input: a.key === 'name',
    })),
  );
}

const str = (
  tf: string,
  key: string,
  description: string,
  extra: Partial<TfAttribute> = {},
): TfAttribute => ({
  tf,
  key,
  shape: { kind: 'primitive', type: 'string' },
  required: false,
  optional: false,
  computed: true,
  sensitive: false,
  description,
  requiresReplace: false,
  input: false,
  nested: false,
  ...extra,
});

/** The data source `stratus_host`: what the agent of a host reports of it (`GET /v1/host`). */
export const HOST_DATA_SOURCE: TfBlock = blockOf('What the Stratus agent of a host reports about it.', [
  str('host', 'host', "The Stratus host to ask (default: the provider's host, `local`).", {
    optional: true,
    computed: true,
    input: true,
  }),
  str('hostname', 'hostname', "The machine's host name."),
  str(
    'hypervisor_type',
    'virtType',
    'libvirt domain type guests get: kvm, or qemu (TCG) where KVM cannot run guests.',
  ),
  str('hypervisor_reason', 'virtReason', 'Why that hypervisor type was chosen.'),
  str('libvirt_uri', 'libvirtUri', 'The libvirt connection the agent uses.'),
]);

/** The provider's own configuration block. */
export const PROVIDER_BLOCK: TfBlock = blockOf('Stratus: where its agent is and how to authenticate.', [
  str(
    'agent_socket',
    'agentSocket',
    'Unix socket of the agent. Default: STRATUS_AGENT_SOCKET, else agent.sock in STRATUS_AGENT_STATE_DIR, else /run/stratus-agent/agent.sock.',
    { optional: true, computed: false },
  ),
  str(
    'agent_url',
    'agentUrl',
    'https:// or http:// URL of an agent listening on TCP (instead of the socket).',
    {
      optional: true,
      computed: false,
    },
  ),
  str('token', 'token', 'Bearer token of the agent. Default: the token file.', {
    optional: true,
    computed: false,
    sensitive: true,
  }),
  str(
    'token_file',
    'tokenFile',
    "File holding the agent's token. Default: token in STRATUS_AGENT_STATE_DIR, else /var/lib/stratus-agent/token.",
    { optional: true, computed: false },
  ),
  str(
    'ca_file',
    'caFile',
    "PEM file of the CA (or the agent's self-signed certificate) to trust for an https agent_url.",
    {
      optional: true,
      computed: false,
    },
  ),
  str('host', 'host', 'The Stratus host resources are placed on (default `local`).', {
    optional: true,
    computed: false,
  }),
]);

/** Every resource block, by Terraform type name (`stratus_server`), from `types` (default: the registry). */
export function resourceBlocks(types: Record<string, ResourceSchema> = registry): Map<string, TfBlock> {
  return new Map(Object.values(types).map((s) => [`stratus_${snakeCase(s.type)}`, resourceBlock(s)]));
}

/** Every data source block, by Terraform type name. */
export function dataSourceBlocks(types: Record<string, ResourceSchema> = registry): Map<string, TfBlock> {
  const out = new Map<string, TfBlock>();
  for (const s of Object.values(types)) {
    const b = dataSourceBlock(s);
    if (b) out.set(`stratus_${snakeCase(s.type)}`, b);
  }
  out.set('stratus_host', HOST_DATA_SOURCE);
  return out;
}
