/**
 * Brands that identify construct objects. A program imports `@stratus/sdk` from its own resolution (the
 * built package), which may be another copy of this module than the loader's, so `instanceof` cannot be
 * trusted; a registered symbol is the same in every copy.
 */
export const BRAND: unique symbol = Symbol.for('@stratus/sdk.construct');

/** What a branded object is. */
export type BrandKind = 'stack' | 'resource' | 'token';

/** Whether `v` carries the brand `kind`. */
export function hasBrand(v: unknown, kind: BrandKind): boolean {
  return v !== null && typeof v === 'object' && (v as { [BRAND]?: unknown })[BRAND] === kind;
}
