/**
 * The one marker for a value that is known only after apply (Terraform's "unknown"). Front ends and the
 * provider protocol pass plain JSON values in which UNKNOWN may stand anywhere a value can.
 */

// A registry-wide symbol, so a marker made by another copy of this module is still recognized.
const MARK = Symbol.for('stratus.unknown');

/** The type of {@link UNKNOWN}. */
export interface Unknown {
  readonly [MARK]: true;
  /** Renders as `(known after apply)` when a plan is printed as JSON. */
  toJSON(): string;
}

/** The one unknown value. Compare with {@link isUnknown} (or `===` inside one copy of the module). */
export const UNKNOWN: Unknown = Object.freeze({
  [MARK]: true as const,
  toJSON: () => '(known after apply)',
});

/** Whether `v` is the unknown marker (from any copy of this module). */
export function isUnknown(v: unknown): v is Unknown {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[MARK] === true;
}

/** Whether `v` is, or contains, an unknown value. */
export function hasUnknown(v: unknown): boolean {
  if (isUnknown(v)) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v !== null && typeof v === 'object') return Object.values(v).some(hasUnknown);
  return false;
}
