import { parseDuration } from '../engine/normalize.js';
import { type LockHooks, type StateBackend, StateError } from '../state/types.js';
import { type Flags, usageError } from './args.js';
import { log } from './log.js';

/** `-lock-timeout=DURATION` in milliseconds (default 0s: fail at once, as Terraform). Throws UsageError. */
export function lockTimeoutOf(command: string, flags: Flags): number {
  const v = flags['lock-timeout'];
  if (v === undefined) return 0;
  if (v === '0' || v === '0s') return 0;
  const ms = parseDuration(v);
  if (ms === undefined)
    throw usageError(
      command,
      `-lock-timeout takes a duration such as 30s, 5m or 1h, not ${JSON.stringify(v)}`,
    );
  return ms;
}

/**
 * `backend` whose `lock` retries while another run holds the lock, until `timeoutMs` has passed
 * (Terraform's -lock-timeout). `tell` is told once, when the first attempt finds the lock held, and
 * each time a dead holder's lock was removed (one line each). When the time is up, the last `locked`
 * error is thrown with how long it waited.
 */
export function withLockTimeout(
  backend: StateBackend,
  timeoutMs: number,
  tell: (message: string) => void,
): StateBackend {
  const lock = async (operation: string, hooks?: LockHooks): Promise<() => Promise<void>> => {
    const deadline = Date.now() + timeoutMs;
    let pause = 100;
    let told = false;
    for (;;) {
      try {
        const unlock = await backend.lock(operation, hooks ?? { onStaleCleared: tell });
        log.debug('state lock acquired', { where: backend.where, operation });
        return unlock;
      } catch (e) {
        if (!StateError.isInstance(e) || e.code !== 'locked') throw e;
        const left = deadline - Date.now();
        if (left <= 0) {
          if (timeoutMs > 0) e.message += ` (still locked after waiting ${timeoutMs / 1000}s: -lock-timeout)`;
          throw e;
        }
        if (!told) {
          tell(`${e.message}; waiting up to ${timeoutMs / 1000}s for it (-lock-timeout)...`);
          told = true;
        }
        log.debug('state lock held by another run; retrying', { where: backend.where, waitMs: pause });
        await new Promise((r) => setTimeout(r, Math.min(pause, left)));
        pause = Math.min(pause * 2, 1000);
      }
    }
  };
  return new Proxy(backend, {
    get(target, key) {
      if (key === 'lock') return lock;
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
