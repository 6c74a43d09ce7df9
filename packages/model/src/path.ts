/**
 * Attribute paths: the one format for naming a place inside a resource's attributes, in diagnostics,
 * API errors and plans. A path is a list of object keys and list indexes; it renders as `a.b[0].c`.
 */

/** A place inside a value: object keys and list indexes, outermost first. */
export type AttributePath = readonly (string | number)[];

/** Renders an attribute path as `a.b[0].c` (empty string for the value itself). */
export function formatPath(path: AttributePath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/** Parses `a.b[0].c` back into a path; the inverse of {@link formatPath} for keys without `.` or `[`. */
export function parsePath(text: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}
