/** Serializes async work per key (a resource id, a network), so concurrent requests never interleave. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Per key, the shared run that is queued and has not started yet (see {@link runShared}). */
  private readonly queued = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /**
   * Like {@link run}, but callers that arrive while a shared run of `key` is queued (not started) join
   * it instead of queueing another. Every caller still gets a run that starts after its call, so `fn`
   * must read what it works on when it starts (e.g. "write the hosts file from the records"): ten
   * concurrent callers cost one or two runs, not ten.
   */
  runShared(key: string, fn: () => Promise<void>): Promise<void> {
    const waiting = this.queued.get(key);
    if (waiting) return waiting as Promise<void>;
    const p = this.run(key, () => {
      if (this.queued.get(key) === p) this.queued.delete(key);
      return fn();
    });
    this.queued.set(key, p);
    return p;
  }
}
