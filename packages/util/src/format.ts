/**
 * A byte count for people, in IEC units (`512 B`, `1.5 MiB`, `20.0 GiB`): one decimal from KiB on.
 * `bytes` must be a non-negative number.
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
