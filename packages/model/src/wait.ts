/**
 * What a server's `wait` input asks apply to wait for after the domain runs: nothing, the guest's DHCP
 * lease, or a TCP port of the guest accepting connections. Pure parsing, shared by the schema's check
 * (validate) and the agent (which does the waiting).
 */
import { durationProblem, parseDuration } from './duration.js';

/** What to wait for, parsed: `none`, `dhcp`, or `tcp` with a port. */
export type WaitFor = { kind: 'none' } | { kind: 'dhcp' } | { kind: 'tcp'; port: number };

/** How long a wait lasts when `wait.timeout` is not given: 5 minutes, below the server's create timeout. */
export const DEFAULT_WAIT_TIMEOUT = '5m';

/** Parses `none`, `dhcp` or `tcp:PORT` (PORT 1-65535, decimal without leading zeros); undefined if malformed. */
export function parseWaitFor(s: string): WaitFor | undefined {
  if (s === 'none' || s === 'dhcp') return { kind: s };
  const m = /^tcp:([1-9]\d{0,4})$/.exec(s);
  const port = m ? Number(m[1]) : 0;
  return port >= 1 && port <= 65535 ? { kind: 'tcp', port } : undefined;
}

/** Why `s` is not a `wait.for` value, or undefined. */
export function waitForProblem(s: string): string | undefined {
  return parseWaitFor(s)
    ? undefined
    : `must be none, dhcp or tcp:PORT with PORT from 1 to 65535 (such as tcp:22), not ${JSON.stringify(s)}`;
}

/** Why `s` is not a wait timeout (a duration above 0 and at most 24h), or undefined. */
export function waitTimeoutProblem(s: string): string | undefined {
  return durationProblem(s);
}

/** A server's wait, resolved: what for and for how long (ms). Defaults: none, {@link DEFAULT_WAIT_TIMEOUT}. */
export function resolveWait(wait: { for?: string; timeout?: string } | undefined): {
  for: WaitFor;
  timeoutMs: number;
} {
  return {
    for: parseWaitFor(wait?.for ?? 'none') ?? { kind: 'none' },
    timeoutMs: parseDuration(wait?.timeout ?? DEFAULT_WAIT_TIMEOUT) ?? parseDuration(DEFAULT_WAIT_TIMEOUT)!,
  };
}
