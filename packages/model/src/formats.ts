import { type Static, type TSchema, type TString, Type } from '@sinclair/typebox';
import {
  displayNameProblem,
  hostnameProblem,
  localPathProblem,
  passwordProblem,
  publicKeyProblem,
  userDataBase64Problem,
  userDataProblem,
} from './host-text.js';
import type { AttrMeta } from './meta.js';
import { waitForProblem, waitTimeoutProblem } from './wait.js';

type Opts = AttrMeta & { description: string; default?: unknown };

/** `formatName` names what a pattern means, for error messages. */

const IPV4 = '^(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}$';
const CIDR4 = IPV4.replace(/\$$/, '/(3[0-2]|[12]?\\d)$');

/** An IPv4 address in dotted-quad form. */
export const Ipv4 = (o: Opts) => Type.String({ pattern: IPV4, formatName: 'an IPv4 address', ...o });

/** An IPv4 network in CIDR form, e.g. `10.20.0.0/24`. */
export const Cidr4 = (o: Opts) =>
  Type.String({ pattern: CIDR4, formatName: 'an IPv4 CIDR such as 10.0.0.0/24', ...o });

/**
 * String formats checked by a predicate rather than a pattern, by JSON Schema `format` name: each
 * returns why a value is refused (the error message), or undefined. The same predicates guard the agent's
 * host tools (see host-text.ts), so what validates is what the host accepts.
 */
export const STRING_FORMATS: Readonly<Record<string, (s: string) => string | undefined>> = {
  'stratus-hostname': hostnameProblem,
  'stratus-name': displayNameProblem,
  'stratus-public-key': publicKeyProblem,
  'stratus-user-data': userDataProblem,
  'stratus-user-data-base64': userDataBase64Problem,
  'stratus-password': passwordProblem,
  'stratus-local-path': localPathProblem,
  'stratus-wait-for': waitForProblem,
  'stratus-duration': waitTimeoutProblem,
};

/** A DNS label usable as a guest hostname, also by dnsmasq (not `600`, `12h`, `infinite`). */
export const Hostname = (o: Opts) => Type.String({ format: 'stratus-hostname', ...o });

/** An SSH public key line (one line, at most 16 KiB), as cloud-init writes it to authorized_keys. */
export const PublicKey = (o: Opts) => Type.String({ format: 'stratus-public-key', ...o });

/** User data as text: well-formed Unicode, at most 65535 bytes in UTF-8. */
export const UserData = (o: Opts) => Type.String({ format: 'stratus-user-data', ...o });

/** User data as padded base64, decoding to at most 65535 bytes. */
export const UserDataBase64 = (o: Opts) => Type.String({ format: 'stratus-user-data-base64', ...o });

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

/** What apply waits for once a server's domain runs: `none`, `dhcp` or `tcp:PORT`. */
export const WaitFor = (o: Opts) => Type.String({ format: 'stratus-wait-for', ...o });

/** A duration in Terraform's form (`30s`, `10m`, `1h30m`), above 0 and at most 24h. */
export const Duration = (o: Opts) => Type.String({ format: 'stratus-duration', ...o });

/** A human-readable name: one line of 1-255 UTF-16 code units without control characters. */
export const Name = (o: Opts) => Type.String({ format: 'stratus-name', ...o });

/** A vCPU count: 1 to 64 (the limit QEMU's pc and q35 machines take here without extra topology). */
export const Vcpus = (o: Opts) => Type.Integer({ minimum: 1, maximum: 64, ...o });

/** Guest memory in MiB: 64 MiB to 1 TiB. */
export const MemoryMb = (o: Opts) => Type.Integer({ minimum: 64, maximum: 1048576, ...o });
