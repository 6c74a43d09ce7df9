/**
 * Choosing a number for an object from a range shared with other objects on the host (conntrack zones
 * of Linux bridge networks and of OVS bridges, firewall marks and OpenFlow port numbers of ports): a
 * stable first choice derived from the object (a hash of its id or name), the next free one on a
 * collision, as Neutron's conntrack zone manager searches upward from a start for a free zone.
 */

/**
 * The first number of `lo..hi` (inclusive integers, lo <= hi) not in `used`, searched upward from
 * `lo + seed % (hi - lo + 1)` and wrapping from `hi` to `lo`; undefined when every one is used.
 * `seed`: a non-negative integer (a hash of the object), so an object gets the same number each time
 * while it is free. Values of `used` outside the range are ignored.
 * @throws RangeError when the range or the seed is not as described.
 */
export function nextFree(
  seed: number,
  [lo, hi]: readonly [number, number],
  used: ReadonlySet<number>,
): number | undefined {
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi)
    throw new RangeError(`invalid number range ${lo}..${hi}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`invalid seed ${seed}`);
  const span = hi - lo + 1;
  let n = lo + (seed % span);
  for (let i = 0; i < span; i++) {
    if (!used.has(n)) return n;
    n = n === hi ? lo : n + 1;
  }
  return undefined;
}
