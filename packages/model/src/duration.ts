/**
 * Durations as Terraform writes them (Go's time.ParseDuration compound form), bounded so that no Node
 * timer overflows. Used for resource `timeouts` (the engine) and for duration-valued inputs (a server's
 * `wait.timeout`), so both accept and refuse the same values.
 */

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
// One or more `<number><unit>`, units from largest to smallest, each at most once: `1h30m`, `2h45m10s`,
// `90s`, `500ms`. Fractions (`1.5h`) as in Go.
const DURATION = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/;

/**
 * Longest timeout of one operation: 24 hours. Far above any create or delete Stratus does, and far below
 * what a Node timer holds ({@link MAX_TIMER_MS}), so no timeout ever overflows a timer.
 */
export const MAX_OPERATION_TIMEOUT_MS = 24 * 3_600_000;

/** Largest delay a Node timer takes (2^31-1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Parses a duration in Terraform's form into milliseconds: a sequence of `<number><unit>` with units
 * `h`, `m`, `s`, `ms` in that order (`30s`, `10m`, `1h30m`, `2h45m10s`, `500ms`, `1.5h`). Returns
 * undefined when malformed; the value is not bounded here (see {@link durationProblem}).
 */
export function parseDuration(s: unknown): number | undefined {
  const m = typeof s === 'string' && s !== '' ? DURATION.exec(s) : null;
  if (!m || m.slice(1).every((g) => g === undefined)) return undefined;
  const [, h, min, sec, ms] = m;
  const total =
    Number(h ?? 0) * UNIT_MS.h! +
    Number(min ?? 0) * UNIT_MS.m! +
    Number(sec ?? 0) * UNIT_MS.s! +
    Number(ms ?? 0);
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Why `v` is not an operation timeout (malformed, zero, or above 24h), or undefined when it is one. */
export function durationProblem(v: unknown): string | undefined {
  const ms = parseDuration(v);
  if (ms === undefined)
    return `must be a duration such as 30s, 10m, 1h or 1h30m, not ${JSON.stringify(v) ?? String(v)}`;
  if (ms === 0) return 'must be longer than 0';
  if (ms > MAX_OPERATION_TIMEOUT_MS)
    return `${v} is longer than the limit of 24h for one operation (${ms} ms)`;
  return undefined;
}
