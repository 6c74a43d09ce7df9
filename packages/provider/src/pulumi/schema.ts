/**
 * The Pulumi package schema of `pulumi-resource-stratus`, derived from the Stratus registry with no
 * per-type code: one resource `stratus:index:<Type>` per registered type, its input properties from the
 * type's inputs and its output properties from all of its attributes; an object nested in an attribute
 * becomes an object type `stratus:index:<Type><Attribute>`. `secret` comes from the model's `sensitive`,
 * `replaceOnChanges` from `requiresReplace`, descriptions and defaults from the JSON Schema. Names are
 * the model's (camelCase, as Pulumi's own are). Source of the format: Pulumi's package schema
 * (pulumi.com/docs/iac/using-pulumi/extending-pulumi/schema, `PackageSpec`, `ResourceSpec`,
 * `PropertySpec`, `ObjectTypeSpec`).
 */
import type { TSchema } from '@sinclair/typebox';
import { attributes, type ResourceSchema, registry } from '@stratus/model';
import { PROVIDER_BLOCK } from '../terraform/schema.js';

/** The package name: tokens are `stratus:index:Server`, the plugin `pulumi-resource-stratus`. */
export const PACKAGE = 'stratus';

/** A Pulumi type reference (`TypeSpec`). */
export interface PulumiType {
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';
  items?: PulumiType;
  additionalProperties?: PulumiType;
  $ref?: string;
}

/** A property (`PropertySpec`). */
export interface PulumiProperty extends PulumiType {
  description?: string;
  secret?: boolean;
  replaceOnChanges?: boolean;
  default?: unknown;
}

/** An object type (`ObjectTypeSpec`). */
export interface PulumiObjectType {
  type: 'object';
  description?: string;
  properties: Record<string, PulumiProperty>;
  required?: string[];
}

/** A resource (`ResourceSpec`). */
export interface PulumiResource {
  description: string;
  inputProperties: Record<string, PulumiProperty>;
  requiredInputs: string[];
  properties: Record<string, PulumiProperty>;
  required: string[];
}

/** The package schema (`PackageSpec`), as GetSchema returns it (JSON). */
export interface PulumiPackageSchema {
  name: string;
  displayName: string;
  version: string;
  description: string;
  keywords: string[];
  license: string;
  repository?: string;
  meta: { moduleFormat: string };
  config: { variables: Record<string, PulumiProperty> };
  provider: { description: string; inputProperties: Record<string, PulumiProperty> };
  types: Record<string, PulumiObjectType>;
  resources: Record<string, PulumiResource>;
  language: Record<string, unknown>;
}

/** `security_group` -> `SecurityGroup`, `networks` -> `Networks`. */
export function pascalCase(name: string): string {
  return name
    .replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase())
    .replace(/^[a-z]/, (c) => c.toUpperCase());
}

/** The token of a registered type: `server` -> `stratus:index:Server`. */
export function resourceToken(type: string): string {
  return `${PACKAGE}:index:${pascalCase(type)}`;
}

/** The schema's type of the token `stratus:index:Server` (its last part), as the model names it. */
export function typeOfToken(
  token: string,
  types: Record<string, ResourceSchema>,
): ResourceSchema | undefined {
  const name = token.split(':')[2];
  return Object.values(types).find((s) => pascalCase(s.type) === name);
}

/** Singular of a list attribute's name, for its item type: `networks` -> `Network`, `addresses` -> `Address`. */
function itemName(name: string): string {
  const p = pascalCase(name);
  if (p.endsWith('sses')) return p.slice(0, -2);
  if (p.endsWith('s') && !p.endsWith('ss')) return p.slice(0, -1);
  return p;
}

type JsonSchema = TSchema & {
  type?: string;
  anyOf?: JsonSchema[];
  const?: unknown;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  required?: string[];
  default?: unknown;
  description?: string;
  sensitive?: boolean;
};

/**
 * The Pulumi type of a JSON Schema value; an object with properties is added to `types` under
 * `stratus:index:<typeName>`. A union of literals is a string (or number) whose values the
 * description names; the model's check rejects others with the property's path.
 */
function typeOf(s: JsonSchema, typeName: string, types: Record<string, PulumiObjectType>): PulumiType {
  if (s.anyOf) {
    const kinds = new Set(s.anyOf.map((b) => JSON.stringify(typeOf(b, typeName, types))));
    return kinds.size === 1 ? typeOf(s.anyOf[0]!, typeName, types) : { type: 'string' };
  }
  if (s.const !== undefined) return { type: typeof s.const === 'number' ? 'number' : 'string' };
  switch (s.type) {
    case 'integer':
      return { type: 'integer' };
    case 'number':
      return { type: 'number' };
    case 'boolean':
      return { type: 'boolean' };
    case 'array':
      return { type: 'array', items: s.items ? typeOf(s.items, typeName, types) : { type: 'string' } };
    case 'object': {
      if (s.properties && Object.keys(s.properties).length > 0) {
        const token = `${PACKAGE}:index:${typeName}`;
        const required = new Set(s.required ?? []);
        const properties: Record<string, PulumiProperty> = {};
        for (const [k, p] of Object.entries(s.properties))
          properties[k] = propertyOf(p, `${typeName}${pascalCase(k)}`, types);
        types[token] = {
          type: 'object',
          ...(s.description ? { description: s.description } : {}),
          properties,
          ...(required.size > 0 ? { required: [...required] } : {}),
        };
        return { $ref: `#/types/${token}` };
      }
      const values = s.patternProperties ? Object.values(s.patternProperties)[0] : s.additionalProperties;
      return {
        type: 'object',
        additionalProperties:
          values && typeof values === 'object' ? typeOf(values, typeName, types) : { type: 'string' },
      };
    }
    default:
      return { type: 'string' };
  }
}

/** The literal values a union allows, for its description (`bios`, `uefi`). */
function literals(s: JsonSchema): unknown[] | null {
  const alternatives = s.anyOf;
  if (!alternatives?.every((b) => b.const !== undefined)) return null;
  return alternatives.map((b) => b.const);
}

function propertyOf(
  s: JsonSchema,
  typeName: string,
  types: Record<string, PulumiObjectType>,
): PulumiProperty {
  const allowed = literals(s);
  const description = [
    s.description ?? '',
    allowed ? `One of: ${allowed.map((v) => `\`${String(v)}\``).join(', ')}.` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return {
    ...typeOf(s, typeName, types),
    ...(description ? { description } : {}),
    ...(s.sensitive === true ? { secret: true } : {}),
  };
}

/** The resource spec of one type, its object types added to `types`. */
export function resourceSpec(
  schema: ResourceSchema,
  types: Record<string, PulumiObjectType>,
  resourceNames: ReadonlySet<string> = new Set(),
): PulumiResource {
  const base = pascalCase(schema.type);
  const inputProperties: Record<string, PulumiProperty> = {};
  const properties: Record<string, PulumiProperty> = {};
  const requiredInputs: string[] = [];
  const required: string[] = [];
  for (const a of attributes(schema)) {
    const s = a.schema as JsonSchema;
    const isList = (s as { type?: string }).type === 'array';
    // An attribute's object type is named after its resource and attribute (`ServerNetwork`), unless that
    // is a resource's name (volume.attachment vs volume_attachment): then `VolumeAttachmentInfo`.
    const objectName = `${base}${isList ? itemName(a.name) : pascalCase(a.name)}`;
    const p: PulumiProperty = {
      ...propertyOf(s, resourceNames.has(objectName) ? `${objectName}Info` : objectName, types),
      ...(a.sensitive ? { secret: true } : {}),
    };
    const hasDefault = a.default !== undefined;
    if (a.input) {
      inputProperties[a.name] = {
        ...p,
        ...(a.requiresReplace ? { replaceOnChanges: true } : {}),
        ...(hasDefault ? { default: a.default } : {}),
      };
      if (a.required && !hasDefault) requiredInputs.push(a.name);
    }
    properties[a.name] = p;
    // In state: every output the schema requires, inputs the user must give or that have a default.
    const optionalOutput = !a.input && !(schema.outputs.required ?? []).includes(a.name);
    if ((a.input && (a.required || hasDefault)) || (!a.input && !optionalOutput)) required.push(a.name);
  }
  return { description: schema.description, inputProperties, requiredInputs, properties, required };
}

/** The provider's configuration (`stratus:agentSocket`...): the same settings as the Terraform provider's. */
export function configVariables(): Record<string, PulumiProperty> {
  const out: Record<string, PulumiProperty> = {};
  for (const a of PROVIDER_BLOCK.attributes)
    out[a.key] = {
      type: 'string',
      description: a.description,
      ...(a.sensitive ? { secret: true } : {}),
    };
  return out;
}

/** The package schema of `types` (default: the registry), at `version`. */
export function packageSchema(
  types: Record<string, ResourceSchema> = registry,
  version = '0.1.0',
): PulumiPackageSchema {
  const objectTypes: Record<string, PulumiObjectType> = {};
  const resources: Record<string, PulumiResource> = {};
  const names = new Set(Object.values(types).map((s) => pascalCase(s.type)));
  for (const s of Object.values(types))
    resources[resourceToken(s.type)] = resourceSpec(s, objectTypes, names);
  const config = configVariables();
  return {
    name: PACKAGE,
    displayName: 'Stratus',
    version,
    description:
      'Stratus: images, networks, subnets, servers, key pairs and flavors on your own KVM hosts, through their stratus-agent.',
    keywords: ['pulumi', 'stratus', 'kvm', 'libvirt', 'category/cloud', 'kind/native'],
    license: 'Apache-2.0',
    meta: { moduleFormat: '(.*)' },
    config: { variables: config },
    provider: {
      description: 'The Stratus provider: where its agent is and how to authenticate.',
      inputProperties: config,
    },
    types: objectTypes,
    resources,
    language: { nodejs: { packageName: '@stratus/provider', packageDescription: 'Stratus for Pulumi' } },
  };
}
