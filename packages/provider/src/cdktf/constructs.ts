/**
 * cdktf constructs of terraform-provider-stratus, derived at run time from the same Terraform schemas the
 * provider serves (../terraform/schema.ts, itself derived from the registry): one class extending
 * cdktf's `TerraformResource` per registered type, one `TerraformDataSource` per data source, and the
 * provider configuration. No per-type code: a type added to the registry gets its class here, and
 * scripts/generate.ts writes its named export (classes.generated.ts), as for the sdk's constructs.
 *
 * Props use the model's camelCase names (`memoryMb`), as cdktf's generated bindings do; they are
 * written to `cdk.tf.json` under Terraform's snake_case names (`memory_mb`). Attributes are tokens
 * (`server.accessIpV4` is `${stratus_server.web.access_ip_v4}` once synthesized). Source of the
 * conventions: cdktf's `TerraformResource`/`TerraformDataSource` API and the bindings `cdktf get`
 * generates (`getStringAttribute` for strings, `IResolvable` for booleans and nested values).
 */
import type { Static, TArray, TObject, TProperties, TSchema } from '@sinclair/typebox';
import type { AttributesOf, OptionalKeys, ResourceType } from '@stratus/model';
import { registry } from '@stratus/model';
import type * as modelRegistry from '@stratus/model/registry';
import {
  type IResolvable,
  type ITerraformDependable,
  TerraformDataSource,
  TerraformProvider,
  TerraformResource,
  type TerraformResourceConfig,
  type TerraformResourceLifecycle,
  Tokenization,
} from 'cdktf';
import type { Construct } from 'constructs';
import {
  dataSourceBlocks,
  HOST_DATA_SOURCE,
  PROVIDER_BLOCK,
  resourceBlocks,
  type Shape,
  snakeCase,
  type TfAttribute,
  type TfBlock,
} from '../terraform/schema.js';

/** The provider's address in Terraform (`required_providers`), as scripts/terraform-config.sh overrides it. */
export const PROVIDER_SOURCE = 'stratus/stratus';

type SchemaOf<T extends ResourceType> = (typeof modelRegistry)[T];

/** A value cdktf accepts where the schema's value is `V`: the value, or a token standing for it. */
export type Tokenized<V> = [V] extends [string]
  ? string
  : [V] extends [number]
    ? number
    : [V] extends [boolean]
      ? boolean | IResolvable
      : V;

/** What a prop accepts where the schema is `S`: lists and objects recurse, or are one token. */
export type PropOf<S> =
  S extends TArray<infer I>
    ? PropOf<I>[] | IResolvable
    : S extends TObject<infer P>
      ? PropsOf<P> | IResolvable
      : S extends TSchema
        ? Tokenized<Static<S>> | IResolvable
        : never;

/** Props of an object schema: required exactly where the schema requires a value. */
export type PropsOf<P extends TProperties> = { [K in Exclude<keyof P, OptionalKeys<P>>]: PropOf<P[K]> } & {
  [K in OptionalKeys<P>]?: PropOf<P[K]>;
};

/** Options of every resource besides its attributes (cdktf's meta-arguments). */
export interface ResourceOptions {
  dependsOn?: ITerraformDependable[];
  lifecycle?: TerraformResourceLifecycle;
  provider?: TerraformProvider;
}

/** The config of the construct of type `T`: its input attributes, typed from its schema, and options. */
export type ResourceConfig<T extends ResourceType> = PropsOf<SchemaOf<T>['inputs']['properties']> &
  ResourceOptions;

/** The token a synthesized attribute gives, as cdktf's generated bindings type it. */
export type AttributeToken<V> = [V] extends [string]
  ? string
  : [V] extends [number]
    ? number
    : [V] extends [string[]]
      ? string[]
      : [V] extends [number[]]
        ? number[]
        : [V] extends [Record<string, string>]
          ? Record<string, string>
          : IResolvable;

/** The attribute tokens of type `T` (inputs, outputs and `id`): `server.accessIpV4`. */
export type AttributeTokens<T extends ResourceType> = {
  readonly [K in keyof AttributesOf<SchemaOf<T>>]-?: AttributeToken<
    NonNullable<AttributesOf<SchemaOf<T>>[K]>
  >;
} & { readonly id: string };

/** The construct class of type `T`. */
export interface ResourceClass<T extends ResourceType> {
  new (scope: Construct, id: string, config: ResourceConfig<T>): TerraformResource & AttributeTokens<T>;
  /** The Terraform type (`stratus_server`). */
  readonly tfResourceType: string;
}

/** The config of a data source of type `T` found by name. */
export interface DataSourceConfig extends ResourceOptions {
  name: string;
}

/** The data source class of type `T`. */
export interface DataSourceClass<T extends ResourceType> {
  new (scope: Construct, id: string, config: DataSourceConfig): TerraformDataSource & AttributeTokens<T>;
  readonly tfResourceType: string;
}

/** A type name in PascalCase: `security_group` -> `SecurityGroup`. */
export type PascalCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Capitalize<H>}${PascalCase<T>}`
  : Capitalize<S>;

const pascal = (t: string) => t.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
/** `memory_mb` -> `memoryMb`, for the host data source whose names are only Terraform's. */
const camel = (t: string) => t.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/**
 * A prop value in Terraform's form: keys renamed along the shape, unset attributes left out, tokens
 * (cdktf encodes them as strings, numbers or lists, or gives an `IResolvable`) kept as they are.
 */
export function configValue(v: unknown, s: Shape): unknown {
  if (v === undefined || v === null || Tokenization.isResolvable(v)) return v;
  if (s.kind === 'list' && Array.isArray(v)) return v.map((x) => configValue(x, s.item));
  if (s.kind === 'map' && typeof v === 'object' && !Array.isArray(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, configValue(x, s.item)]));
  if (s.kind === 'object' && typeof v === 'object' && !Array.isArray(v)) {
    const src = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const f of s.fields) if (src[f.key] !== undefined) out[f.tf] = configValue(src[f.key], f.shape);
    return out;
  }
  return v;
}

type Gettable = {
  getStringAttribute(n: string): string;
  getNumberAttribute(n: string): number;
  getListAttribute(n: string): string[];
  getNumberListAttribute(n: string): number[];
  getBooleanAttribute(n: string): IResolvable;
  getStringMapAttribute(n: string): Record<string, string>;
  interpolationForAttribute(n: string): IResolvable;
};

/** The token of attribute `a`, typed as {@link AttributeToken} says. */
function attributeToken(self: Gettable, a: TfAttribute): unknown {
  const s = a.shape;
  if (s.kind === 'primitive')
    return s.type === 'string'
      ? self.getStringAttribute(a.tf)
      : s.type === 'number'
        ? self.getNumberAttribute(a.tf)
        : self.getBooleanAttribute(a.tf);
  if (s.kind === 'list' && s.item.kind === 'primitive' && s.item.type === 'string')
    return self.getListAttribute(a.tf);
  if (s.kind === 'list' && s.item.kind === 'primitive' && s.item.type === 'number')
    return self.getNumberListAttribute(a.tf);
  if (s.kind === 'map' && s.item.kind === 'primitive' && s.item.type === 'string')
    return self.getStringMapAttribute(a.tf);
  return self.interpolationForAttribute(a.tf);
}

/**
 * Properties cdktf's resources and data sources set on each instance (not on their prototype), which
 * an attribute getter must not shadow (their constructor would then fail to assign them).
 */
const INSTANCE_FIELDS = new Set([
  'node',
  'cdktfStack',
  'fqn',
  'friendlyUniqueId',
  'rawOverrides',
  'terraformResourceType',
  'terraformGeneratorMetadata',
  'dependsOn',
  'count',
  'provider',
  'lifecycle',
  'forEach',
  'connection',
  'provisioners',
]);

/** Defines a getter per attribute on `proto`; a name cdktf's base class already uses is a bug to fix. */
function defineAttributes(proto: object, base: object, block: TfBlock, name: (a: TfAttribute) => string) {
  for (const a of block.attributes) {
    const key = name(a);
    if (key in base || INSTANCE_FIELDS.has(key))
      throw new Error(`attribute ${a.tf} of ${block.description} clashes with cdktf's ${key}; rename it`);
    Object.defineProperty(proto, key, {
      get(this: Gettable) {
        return attributeToken(this, a);
      },
      enumerable: false,
      configurable: true,
    });
  }
}

/** The config's attributes in Terraform's form (what `synthesizeAttributes` returns). */
function synthesize(block: TfBlock, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of block.attributes)
    if (config[a.key] !== undefined) out[a.tf] = configValue(config[a.key], a.shape);
  return out;
}

/** Splits cdktf's meta-arguments from attribute values. */
function metaOf(config: ResourceOptions): Partial<TerraformResourceConfig> {
  return {
    ...(config.dependsOn ? { dependsOn: config.dependsOn } : {}),
    ...(config.lifecycle ? { lifecycle: config.lifecycle } : {}),
    ...(config.provider ? { provider: config.provider } : {}),
  };
}

const GENERATOR = { providerName: 'stratus' } as const;

/** The construct class of a Terraform resource block (`stratus_server`). */
export function resourceClass(
  tfType: string,
  block: TfBlock,
): new (
  scope: Construct,
  id: string,
  config: Record<string, unknown>,
) => TerraformResource {
  const cls = class extends TerraformResource {
    static readonly tfResourceType = tfType;
    private readonly stratusConfig: Record<string, unknown>;
    constructor(scope: Construct, id: string, config: Record<string, unknown> = {}) {
      super(scope, id, {
        terraformResourceType: tfType,
        terraformGeneratorMetadata: GENERATOR,
        ...metaOf(config),
      });
      this.stratusConfig = config;
    }
    protected override synthesizeAttributes(): Record<string, unknown> {
      return synthesize(block, this.stratusConfig);
    }
    protected override synthesizeHclAttributes(): Record<string, unknown> {
      return synthesize(block, this.stratusConfig);
    }
  };
  defineAttributes(cls.prototype, TerraformResource.prototype, block, (a) => a.key);
  return cls;
}

/** The construct class of a Terraform data source block (`data.stratus_image`). */
export function dataSourceClass(
  tfType: string,
  block: TfBlock,
  name: (a: TfAttribute) => string = (a) => a.key,
): new (
  scope: Construct,
  id: string,
  config: Record<string, unknown>,
) => TerraformDataSource {
  const cls = class extends TerraformDataSource {
    static readonly tfResourceType = tfType;
    private readonly stratusConfig: Record<string, unknown>;
    constructor(scope: Construct, id: string, config: Record<string, unknown> = {}) {
      super(scope, id, {
        terraformResourceType: tfType,
        terraformGeneratorMetadata: GENERATOR,
        ...metaOf(config),
      });
      this.stratusConfig = Object.fromEntries(
        block.attributes.filter((a) => a.input).map((a) => [a.key, config[name(a)]]),
      );
    }
    protected override synthesizeAttributes(): Record<string, unknown> {
      return synthesize(block, this.stratusConfig);
    }
    protected override synthesizeHclAttributes(): Record<string, unknown> {
      return synthesize(block, this.stratusConfig);
    }
  };
  defineAttributes(cls.prototype, TerraformDataSource.prototype, block, name);
  return cls;
}

/** The resource construct classes of every registered type, by class name (`Server`, `Network`, ...). */
export type ResourceClasses = { [T in ResourceType as PascalCase<T>]: ResourceClass<T> };
/** The data source classes of every registered type that has a name, by class name (`DataImage`). */
export type DataSourceClasses = { [T in ResourceType as `Data${PascalCase<T>}`]: DataSourceClass<T> };

const blocks = resourceBlocks(registry);
/** The resource construct classes, derived from the registry's Terraform schemas. */
export const resources = Object.fromEntries(
  Object.values(registry).map((s) => {
    const tf = `stratus_${snakeCase(s.type)}`;
    const cls = resourceClass(tf, blocks.get(tf)!);
    Object.defineProperty(cls, 'name', { value: pascal(s.type) });
    return [pascal(s.type), cls];
  }),
) as unknown as ResourceClasses;

const dataBlocks = dataSourceBlocks(registry);
/** The data source construct classes of the registry's types that have a name (types without one have none). */
export const dataSources = Object.fromEntries(
  Object.values(registry).flatMap((s) => {
    const tf = `stratus_${snakeCase(s.type)}`;
    const block = dataBlocks.get(tf);
    if (!block) return [];
    const cls = dataSourceClass(tf, block);
    Object.defineProperty(cls, 'name', { value: `Data${pascal(s.type)}` });
    return [[`Data${pascal(s.type)}`, cls]];
  }),
) as unknown as Partial<DataSourceClasses>;

/** Attributes of the host data source (`data.stratus_host`), by their Terraform names in camelCase. */
export interface DataHostAttributes {
  readonly host: string;
  readonly hostname: string;
  readonly hypervisorType: string;
  readonly hypervisorReason: string;
  readonly libvirtUri: string;
}

/** `data.stratus_host`: what the agent of a host reports (hypervisor type, host name). */
export const DataHost = dataSourceClass('stratus_host', HOST_DATA_SOURCE, (a) => camel(a.tf)) as unknown as {
  new (
    scope: Construct,
    id: string,
    config?: { host?: string } & ResourceOptions,
  ): TerraformDataSource & DataHostAttributes;
};
Object.defineProperty(DataHost, 'name', { value: 'DataHost' });

/** Configuration of the Stratus provider (its block in Terraform), camelCase as in cdktf's bindings. */
export interface StratusProviderConfig {
  /** Unix socket of the agent (default: the `STRATUS_*` environment, as the CLI). */
  agentSocket?: string;
  /** https:// or http:// URL of an agent listening on TCP. */
  agentUrl?: string;
  /** Bearer token of the agent (sensitive). */
  token?: string;
  /** File holding the agent's token. */
  tokenFile?: string;
  /** PEM file of the CA to trust for an https agent URL. */
  caFile?: string;
  /** The Stratus host resources are placed on (default `local`). */
  host?: string;
  /** A provider alias, for several configurations in one stack. */
  alias?: string;
}

/**
 * The `stratus` provider block. Synthesis adds `required_providers.stratus = {source: "stratus/stratus"}`,
 * the address scripts/terraform-config.sh points at the built provider.
 */
export class StratusProvider extends TerraformProvider {
  private readonly config: StratusProviderConfig;
  private aliasValue: string | undefined;
  constructor(scope: Construct, id: string, config: StratusProviderConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'stratus',
      terraformGeneratorMetadata: GENERATOR,
      terraformProviderSource: PROVIDER_SOURCE,
    });
    this.config = config;
    this.aliasValue = config.alias;
  }
  /** The alias (cdktf writes it with the provider block and uses it in `provider = stratus.ALIAS`). */
  override get alias(): string | undefined {
    return this.aliasValue;
  }
  override set alias(value: string | undefined) {
    this.aliasValue = value;
  }
  protected override synthesizeAttributes(): Record<string, unknown> {
    return synthesize(PROVIDER_BLOCK, this.config as Record<string, unknown>);
  }
  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return this.synthesizeAttributes();
  }
}
