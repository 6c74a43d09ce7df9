import { type Static, type TSchema, type TString, Type } from '@sinclair/typebox';
import type { AttrMeta } from './meta.js';

type Opts = AttrMeta & { description: string; default?: unknown };

/** `formatName` names what a pattern means, for error messages. */

const IPV4 = '^(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}$';
const CIDR4 = IPV4.replace(/\$$/, '/(3[0-2]|[12]?\\d)$');

/** An IPv4 address in dotted-quad form. */
export const Ipv4 = (o: Opts) => Type.String({ pattern: IPV4, formatName: 'an IPv4 address', ...o });

/** An IPv4 network in CIDR form, e.g. `10.20.0.0/24`. */
export const Cidr4 = (o: Opts) =>
  Type.String({ pattern: CIDR4, formatName: 'an IPv4 CIDR such as 10.0.0.0/24', ...o });

/** A DNS label usable as a guest hostname. */
export const Hostname = (o: Opts) =>
  Type.String({
    pattern: '^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$',
    formatName: 'a hostname (letters, digits and inner hyphens, at most 63)',
    ...o,
  });

/** A reference to another resource: its id. The type carries the referenced type, for constructs. */
export const Ref = <R extends NonNullable<AttrMeta['ref']>>(type: R, o: Omit<Opts, 'ref'>) =>
  Type.String({ ref: type, minLength: 1, ...o }) as TString & { readonly ref: R };

/**
 * Marks, in its TypeScript type, that a schema has a `default` (set in its options as usual), so typed
 * front ends know the attribute may be left out. Throws if the schema has no default.
 */
export function Defaulted<S extends TSchema>(schema: S): S & { readonly default: Static<S> } {
  if (!('default' in schema)) throw new Error('Defaulted: the schema has no default');
  return schema as S & { readonly default: Static<S> };
}

/** A human-readable name. */
export const Name = (o: Opts) => Type.String({ minLength: 1, maxLength: 255, ...o });
