/**
 * How the CLI's bundle was compiled, as the launcher (cli/launcher.ts) found its V8 code cache:
 * - `used`: V8 accepted the cache; the command started from its bytecode.
 * - `rejected`: the cache matched the bundle but V8 refused it (another node version or V8 flags).
 * - `stale`: the cache was made from another bundle (checksum mismatch) and was not offered to V8.
 * - `absent`: there is no cache file (a build that could not produce it).
 * - `off`: `STRATUS_CLI_CODE_CACHE=off` asked for a compile without it.
 * - `write`: `STRATUS_CLI_CODE_CACHE=write` (the build's training runs): the cache is written at exit.
 */
export type CodeCacheStatus = 'used' | 'rejected' | 'stale' | 'absent' | 'off' | 'write';

/**
 * Where the launcher leaves the status for the CLI's debug log. A registered symbol: the launcher and
 * the CLI are two bundles, each with its own copy of this module.
 */
const KEY = Symbol.for('stratus.cli.codeCache');

/** Records how the bundle was compiled (called by the launcher before it runs the bundle). */
export function setCodeCacheStatus(status: CodeCacheStatus): void {
  (globalThis as Record<symbol, unknown>)[KEY] = status;
}

/** How the running CLI was compiled, or `undefined` when it runs from its modules (no launcher). */
export function codeCacheStatus(): CodeCacheStatus | undefined {
  return (globalThis as Record<symbol, unknown>)[KEY] as CodeCacheStatus | undefined;
}
