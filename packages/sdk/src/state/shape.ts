/**
 * A small shape checker for JSON documents Stratus reads back (state, saved plans): each check adds
 * `path: what is wrong` to a list, so a damaged document is reported with every problem at once instead
 * of failing later with a TypeError deep in the engine.
 */

/** Collects problems of a JSON value, each with its path (`resources[3].attributes`). */
export class ShapeProblems {
  readonly items: string[] = [];

  add(path: string, message: string): void {
    this.items.push(`${path || '(document)'}: ${message}`);
  }

  /** Checks `v` is a plain object; returns it, or undefined (problem recorded) when it is not. */
  object(v: unknown, path: string): Record<string, unknown> | undefined {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    this.add(path, `must be an object, not ${describe(v)}`);
    return undefined;
  }

  array(v: unknown, path: string): unknown[] | undefined {
    if (Array.isArray(v)) return v;
    this.add(path, `must be a list, not ${describe(v)}`);
    return undefined;
  }

  string(v: unknown, path: string, opts: { nonEmpty?: boolean; nullable?: boolean } = {}): void {
    if (v === null && opts.nullable) return;
    if (typeof v !== 'string') this.add(path, `must be a string, not ${describe(v)}`);
    else if (opts.nonEmpty && v === '') this.add(path, 'must not be empty');
  }

  integer(v: unknown, path: string, opts: { min?: number; nullable?: boolean } = {}): void {
    if (v === null && opts.nullable) return;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (opts.min ?? 0))
      this.add(path, `must be an integer >= ${opts.min ?? 0}, not ${describe(v)}`);
  }

  boolean(v: unknown, path: string): void {
    if (typeof v !== 'boolean') this.add(path, `must be true or false, not ${describe(v)}`);
  }

  oneOf(v: unknown, path: string, allowed: readonly string[]): void {
    if (typeof v !== 'string' || !allowed.includes(v))
      this.add(path, `must be one of ${allowed.join(', ')}, not ${describe(v)}`);
  }

  stringList(v: unknown, path: string): void {
    const list = this.array(v, path);
    list?.forEach((x, i) => {
      this.string(x, `${path}[${i}]`);
    });
  }

  /** The problems as one indented text, at most `max` of them and a count of the rest. */
  text(max = 10): string {
    const shown = this.items.slice(0, max).map((p) => `  ${p}`);
    if (this.items.length > max) shown.push(`  ... and ${this.items.length - max} more`);
    return shown.join('\n');
  }
}

/** A short description of a JSON value's kind, for messages (never the value: it may be secret). */
export function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
