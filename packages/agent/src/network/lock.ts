/**
 * Per-key mutual exclusion for host objects. The agent's supervision loop and API handlers may converge
 * the same network at the same time; serialising them keeps "check, then act" sequences sound.
 */
import { KeyedMutex } from '../host/mutex.js';

const locks = new KeyedMutex();

/** Runs `fn` once every earlier holder of `key` has finished, and resolves or rejects with its outcome. */
export const withLock = <T>(key: string, fn: () => Promise<T>): Promise<T> => locks.run(key, fn);
