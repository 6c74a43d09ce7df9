import type { Static, TArray, TObject, TProperties, TSchema } from '@sinclair/typebox';
import type { AttributesOf, InputsOf, OptionalKeys } from '@stratus/model';
import { attributes, type ResourceType, schemas } from '@stratus/model';
import type * as registry from '@stratus/model/registry';
import type { SourceRange } from '../diagnostics/index.js';
import type { Lifecycle, Timeouts } from '../engine/config.js';
import { BRAND, hasBrand } from './brand.js';
import { callerOf } from './location.js';
import type { Stack } from './stack.js';
import { IdToken, Token } from './token.js';

/** The schema of resource type `T`, with its attribute types (the registry exports each under its type). */
type SchemaOf<T extends ResourceType> = (typeof registry)[T];
/** Input attributes of `T` as the schema declares them. */
export type InputAttributes<T extends ResourceType> = InputsOf<SchemaOf<T>>;
/** All attributes of `T` (inputs and outputs) as the schema declares them. */
export type AllAttributes<T extends ResourceType> = AttributesOf<SchemaOf<T>>;

/** A reference to a resource of type `R`: the construct, or its `id`. */
export type Reference<R extends ResourceType> = Resource<R> | IdToken<R>;

/**
 * What a property accepts where the schema is `S`: read from the schema's own type, so references
 * (`ref` metadata) take a construct of that type or its `id`, arrays and objects recurse, and anything
 * else takes its plain value or a token of the same type.
 */
export type PropFor<S> = S extends { readonly ref: infer R extends ResourceType }
  ? Reference<R>
  : S extends TArray<infer I>
    ? PropFor<I>[] | Token<Static<S>>
    : S extends TObject<infer P>
      ? PropsFor<P> | Token<Static<S>>
      : S extends TSchema
        ? Static<S> | Token<Static<S>>
        : never;

/** Props of an object schema's properties: required exactly where the schema requires a value. */
export type PropsFor<P extends TProperties> = { [K in Exclude<keyof P, OptionalKeys<P>>]: PropFor<P[K]> } & {
  [K in OptionalKeys<P>]?: PropFor<P[K]>;
};

/** Properties of a resource of type `T`, typed from its schema's input attributes. */
export type PropsOf<T extends ResourceType> = PropsFor<SchemaOf<T>['inputs']['properties']>;

/** Tokens of every attribute of `T`: `web.attrs.accessIpV4` is a `Token<string>`. */
export type AttributeTokens<T extends ResourceType> = {
  readonly [K in keyof AllAttributes<T>]-?: Token<NonNullable<AllAttributes<T>[K]>>;
};

type DurationUnit = 'ms' | 's' | 'm' | 'h';
/** One `<number><unit>` part of a duration. */
type DurationPart = `${number}${DurationUnit}`;
/**
 * A duration such as `30s`, `10m`, `1h` or, as Terraform writes them, `1h30m` and `2h45m10s` (at most
 * three parts here; validation takes any and bounds the total).
 */
export type Duration =
  | DurationPart
  | `${DurationPart}${DurationPart}`
  | `${DurationPart}${DurationPart}${DurationPart}`;

/** Options every resource takes besides its properties (the stack file's resource keys). */
export interface ResourceOptions<T extends ResourceType = ResourceType> {
  /** Resources to create before this one, beyond those its properties reference. */
  dependsOn?: readonly Resource[];
  /** The engine's lifecycle options, with `ignoreChanges` checked against the type's inputs. */
  lifecycle?: Omit<Lifecycle, 'ignoreChanges'> & { ignoreChanges?: (keyof InputAttributes<T> & string)[] };
  /** Time limits of the resource's operations, as durations (`10m`). */
  timeouts?: { [K in keyof Timeouts]?: Duration };
}

/**
 * A resource declared in a TypeScript program: one instance per resource of a {@link Stack}. Use the
 * per-type classes (`Server`, `Network`, ...), which {@link resourceClass} makes from the schema registry.
 */
export abstract class Resource<T extends ResourceType = ResourceType> {
  readonly [BRAND] = 'resource' as const;
  /** The resource's id, known after apply; what reference attributes of other resources take. */
  readonly id: IdToken<T>;
  /** A token for each attribute of the type. */
  readonly attrs: AttributeTokens<T>;
  /** Where the `new` expression that declared it is. */
  readonly location: SourceRange | undefined;

  protected constructor(
    readonly stack: Stack,
    readonly type: T,
    /** The resource's name in the stack (its address), unique across types. */
    readonly name: string,
    readonly props: PropsOf<T>,
    readonly options: ResourceOptions<T>,
  ) {
    // new.target is the per-type class (or a user's subclass): the frame above it is the user's `new`.
    this.location = callerOf(new.target);
    if (!hasBrand(stack, 'stack'))
      throw new TypeError(`the first argument of new ${new.target.name} must be a Stack`);
    this.id = new IdToken([{ resource: this as unknown as Resource, path: [] }]);
    const attrs: Record<string, Token<unknown>> = {};
    for (const a of attributes(schemas[type]))
      attrs[a.name] = new Token([{ resource: this as unknown as Resource, path: [a.name] }]);
    this.attrs = attrs as AttributeTokens<T>;
    (stack.resources as Resource[]).push(this as Resource);
  }

  /** A token for attribute `name`: `web.attr('accessIpV4')` is the same as `web.attrs.accessIpV4`. */
  attr<K extends keyof AllAttributes<T> & string>(name: K): AttributeTokens<T>[K] {
    return this.attrs[name];
  }
}

/** Props and options; props may be left out only when the type requires none. */
type PropsArgs<T extends ResourceType> =
  Record<string, never> extends PropsOf<T>
    ? [props?: PropsOf<T>, options?: ResourceOptions<T>]
    : [props: PropsOf<T>, options?: ResourceOptions<T>];

/** The class of resources of type `T`: `new Server(stack, 'web', { ... }, { dependsOn: [...] })`. */
export type ResourceClass<T extends ResourceType> = new (
  stack: Stack,
  name: string,
  ...args: PropsArgs<T>
) => Resource<T>;

/** Makes the construct class of a resource type from the registry: `class Server extends resourceClass('server') {}`. */
export function resourceClass<T extends ResourceType>(type: T): ResourceClass<T> {
  return class extends Resource<T> {
    constructor(stack: Stack, name: string, ...[props, options]: PropsArgs<T>) {
      super(stack, type, name, props ?? ({} as PropsOf<T>), options ?? {});
    }
  } as unknown as ResourceClass<T>;
}
