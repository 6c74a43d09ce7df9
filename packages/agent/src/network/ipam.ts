/**
 * IPv4 address management as pure functions: allocation over the SDK's IPv4 arithmetic
 * (`@stratus/model`), with every failure an agent domain error carrying an {@link IpamErrorCode}. No I/O: the agent persists what these
 * functions decide, so they are trivially testable and replayable.
 */

import {
  defaultPools,
  firstHost,
  Ipv4Error,
  type Ipv4Net,
  type Ipv4Pool,
  intToIp,
  isInNet,
  parseCidr as parseNet,
  ipToInt as toInt,
} from '@stratus/model';
import { type AgentError, Conflict, InvalidRequest, PoolExhausted } from '../errors.js';

export { intToIp, isIpv4 as isValidIpv4, MAX_PREFIX, MIN_PREFIX } from '@stratus/model';

/** Stable codes of IPAM failures (the `code` of the domain error thrown). */
export type IpamErrorCode =
  | 'invalid_ip'
  | 'invalid_cidr'
  | 'invalid_pool'
  | 'ip_in_use'
  | 'ip_outside_pool'
  | 'pool_exhausted';

/** An IPAM failure caused by the caller's input or by the pool's state, with a stable `code`. */

/**
 * The domain error of an IPAM failure: `pool_exhausted` is a PoolExhausted, `ip_in_use` a Conflict (Neutron
 * answers both with 409), everything else an InvalidRequest.
 */
export function ipamError(code: IpamErrorCode, message: string, opts: { cause?: unknown } = {}): AgentError {
  const Kind = code === 'pool_exhausted' ? PoolExhausted : code === 'ip_in_use' ? Conflict : InvalidRequest;
  return new Kind(message, { code, cause: opts.cause });
}

/** A parsed IPv4 CIDR: the SDK's {@link Ipv4Net}. */
export type Cidr = Ipv4Net;

/** An inclusive range of addresses handed out by {@link allocateIp}. */
export type AllocationPool = Ipv4Pool;

/** Runs `fn`, turning the model's parse failures into IPAM errors with the same code and message. */
function ipam<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (Ipv4Error.isInstance(e)) throw ipamError(e.code, e.message, { cause: e });
    throw e;
  }
}

/** Converts a dotted-quad IPv4 address to an unsigned 32-bit integer; throws `invalid_ip`. */
export function ipToInt(ip: string): number {
  return ipam(() => toInt(ip));
}

/** Parses an IPv4 CIDR such as `10.20.0.0/24` by the SDK's rules (`parseCidr`); throws `invalid_cidr`. */
export function parseCidr(cidr: string): Cidr {
  return ipam(() => parseNet(cidr));
}

/** True when `ip` lies inside `cidr` (network and broadcast addresses included). Throws on invalid input. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const c = parseCidr(cidr);
  return ipam(() => isInNet(ip, c));
}

/** The conventional gateway of a subnet: its first host address (Neutron's default). */
export function defaultGateway(cidr: string): string {
  return firstHost(parseCidr(cidr));
}

/**
 * Neutron's default allocation pools: every host address of the subnet except the gateway, so one or
 * two ranges. A gateway outside the subnet (or null) excludes nothing; one that is not IPv4 throws.
 */
export function defaultAllocationPools(cidr: string, gatewayIp: string | null): AllocationPool[] {
  const c = parseCidr(cidr);
  return ipam(() => defaultPools(c, gatewayIp));
}

function poolRange(p: AllocationPool): [number, number] {
  const s = ipToInt(p.start);
  const e = ipToInt(p.end);
  if (s > e) throw ipamError('invalid_pool', `allocation pool ${p.start}-${p.end} ends before it starts`);
  return [s, e];
}

/**
 * Picks an address from `pools` that is not in `used`. With `requested`, returns exactly that address or
 * throws `ip_outside_pool` / `ip_in_use`; otherwise returns the lowest free address (deterministic, so
 * replays agree) or throws `pool_exhausted`. Cost grows with `used`, not with the pool size.
 */
export function allocateIp(
  pools: readonly AllocationPool[],
  used: ReadonlySet<string>,
  requested?: string,
): string {
  const ranges = pools.map(poolRange);
  if (requested !== undefined) {
    const n = ipToInt(requested);
    if (!ranges.some(([s, e]) => n >= s && n <= e)) {
      throw ipamError('ip_outside_pool', `${requested} is outside the allocation pools`);
    }
    if (used.has(requested)) throw ipamError('ip_in_use', `${requested} is already allocated`);
    return requested;
  }
  for (const [s, e] of ranges) {
    // Every address skipped is in `used`, so a pool's scan is bounded by used.size + 1 steps.
    for (let n = s; n <= e; n++) {
      const ip = intToIp(n);
      if (!used.has(ip)) return ip;
    }
  }
  throw ipamError('pool_exhausted', 'no free address left in the allocation pools');
}
