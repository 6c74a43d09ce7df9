/** The base of Stratus' coded errors: a stable `code` to switch on and a brand that survives module copies. */

// One registry-wide key, so every copy of this module (two installs of @stratus/sdk) brands alike.
const BRAND = Symbol.for('stratus.error');

/**
 * An error with a stable, machine-readable `code`. Subclasses narrow `C` to their union of codes.
 *
 * `isInstance` is a brand check, not `instanceof`: each instance carries, under `Symbol.for('stratus.error')`,
 * the names of its class and of every Stratus error class it inherits, so `X.isInstance(e)` also holds for an
 * error created by another copy of the module that defines `X` (where `instanceof` fails). Class names are
 * therefore identities: two coded error classes must not share a name.
 */
export abstract class CodedError<C extends string = string> extends Error {
  constructor(
    /** Stable code a caller can switch on; the message is for people and may change. */
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    const names: string[] = [];
    for (let c: unknown = new.target; c !== Error && typeof c === 'function'; c = Object.getPrototypeOf(c)) {
      names.push(c.name);
    }
    Object.defineProperty(this, BRAND, { value: names });
  }

  /**
   * True when `e` is an instance of the class this is called on (or of a subclass), also when created by
   * another copy of its module. Call it on the class: `ComputeError.isInstance(e)`.
   */
  static isInstance<T extends CodedError>(this: abstract new (...args: never[]) => T, e: unknown): e is T {
    if (typeof e !== 'object' || e === null) return false;
    const names = (e as Record<symbol, unknown>)[BRAND];
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class it is called on, so each subclass checks its own name.
    return Array.isArray(names) && names.includes(this.name);
  }
}
