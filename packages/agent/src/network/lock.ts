/**
 * In-process mutual exclusion per key. The agent's supervision loop and API handlers may converge the same
 * network at the same time; serialising them keeps "check, then act" sequences on host objects sound.
 */

const tails = new Map<string, Promise<void>>();

/** Runs `fn` once every earlier holder of `key` has finished, and resolves or rejects with its outcome. */
export async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const tail = prev.then(() => new Promise<void>((r) => (release = r)));
  tails.set(key, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  }
}
