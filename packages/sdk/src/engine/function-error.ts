/** A function called with arguments it cannot take: the message says which and why (never the value). */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
}

/**
 * What kind of value `v` is, for a FunctionError (the value itself is never quoted): `null`, `a list`,
 * `a map`, `a string`, `a number`, and for a boolean `a bool` (Terraform's word) or, with
 * `boolean: 'a boolean'`, Heat's.
 */
export function kindOf(v: unknown, boolean = 'a bool'): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'boolean') return boolean;
  return `a ${typeof v}`;
}
