import type { ResourceType } from '@stratus/model';
import { BRAND, hasBrand } from './brand.js';
import type { Resource } from './resource.js';

/** Phantom keys: they exist only in types, to tell `Token<string>` from `Token<number>`. */
declare const valueType: unique symbol;
declare const refType: unique symbol;

/** One reference inside a token: an attribute of a resource, or its id when `path` is empty. */
export interface AttributeRef {
  readonly resource: Resource;
  readonly path: readonly (string | number)[];
}

/** Keys a token of `T` can be indexed with: element indexes of arrays, property names of objects. */
export type TokenKey<T> = T extends readonly unknown[] ? number : T extends object ? keyof T & string : never;
/** The type of member `K` of `T`. */
type Member<T, K> = T extends readonly (infer E)[] ? E : K extends keyof T ? T[K] : never;

/**
 * A value of type `T` known only after apply: an attribute of another resource (`web.attrs.accessIpV4`),
 * or a string built from such values with {@link interpolate}. Becomes a reference (`${web.accessIpV4}`)
 * when the stack is turned into a stack config.
 */
export class Token<T> {
  declare readonly [valueType]: T;
  readonly [BRAND] = 'token' as const;

  constructor(
    /** Literal text and references, concatenated; a single reference keeps its type. */
    readonly parts: readonly (string | AttributeRef)[],
  ) {}

  /** A member of the value: `web.attrs.addresses.get(0).get('ip')`. */
  get<K extends TokenKey<T>>(key: K): Token<NonNullable<Member<T, K>>> {
    const [only] = this.parts;
    if (this.parts.length !== 1 || only === undefined || typeof only === 'string')
      throw new TypeError('only a token of one attribute has members; this one was built by interpolate');
    return new Token([{ resource: only.resource, path: [...only.path, key] }]);
  }

  /**
   * Refuses to become text: `${token}` in a template literal would lose the reference. Thrown while the
   * program runs, so it is reported at the line that did it.
   */
  toString(): string {
    throw new TypeError(
      'a Stratus token cannot be used as text; build strings with interpolate`...${token}...`',
    );
  }
}

/** The id of a resource of type `R`: what attributes holding a reference to an `R` accept. */
export class IdToken<R extends ResourceType> extends Token<string> {
  declare readonly [refType]: R;
}

/** A token of any type (`Token<unknown>` will not do: `get` makes tokens of different types unrelated). */
export type AnyToken = Pick<Token<unknown>, typeof BRAND | 'parts'>;

/** A value that may appear in {@link interpolate}. */
export type Interpolatable =
  | string
  | number
  | boolean
  | Token<string>
  | Token<number>
  | Token<boolean>
  | Resource;

/**
 * Builds a string from text and tokens: interpolate`http://${web.attrs.accessIpV4}/` becomes
 * `http://${web.accessIpV4}/` in the stack config. A resource stands for its id.
 */
export function interpolate(strings: TemplateStringsArray, ...values: Interpolatable[]): Token<string> {
  const parts: (string | AttributeRef)[] = [];
  strings.forEach((s, i) => {
    if (s) parts.push(s);
    if (i >= values.length) return;
    const v = values[i];
    if (hasBrand(v, 'token')) parts.push(...(v as Token<unknown>).parts);
    else if (hasBrand(v, 'resource')) parts.push({ resource: v as Resource, path: [] });
    else parts.push(String(v));
  });
  return new Token(parts);
}
