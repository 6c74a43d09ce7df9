import { attributes, type ResourceSchema } from './resource.js';
import { isUnknown } from './unknown.js';

/**
 * Deep equality of JSON values, independent of object key order. Keys holding `undefined` count as
 * absent. UNKNOWN equals nothing, not even itself (its value may turn out to be anything). Lists are
 * ordered: the same items in another order are a different list.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (isUnknown(a) || isUnknown(b)) return false;
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(b)) {
    // Loops rather than filter/every: this runs for every attribute of every resource in a plan.
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    let na = 0;
    for (const k of Object.keys(ra)) {
      const x = ra[k];
      if (x === undefined) continue;
      na++;
      if (!deepEqual(x, rb[k])) return false;
    }
    let nb = 0;
    for (const k of Object.keys(rb)) if (rb[k] !== undefined) nb++;
    return na === nb;
  }
  return false;
}

/** One input attribute whose value differs between prior and proposed. */
export interface AttributeDiff {
  name: string;
  before: unknown;
  /** May be UNKNOWN when it is known only after apply. */
  after: unknown;
  /** The schema marks the attribute `requiresReplace`: the change replaces the resource. */
  requiresReplace: boolean;
  sensitive: boolean;
}

/** What a change of inputs does to a resource: nothing, an in-place update, or a replacement. */
export type DiffAction = 'no-op' | 'update' | 'replace';

/** The result of {@link diffInputs}. */
export interface InputDiff {
  action: DiffAction;
  changes: AttributeDiff[];
}

/**
 * The one diff of Stratus: compares proposed input attributes with prior ones, attribute by attribute,
 * as the schema's metadata says. The engine's plan, the provider protocol's default `plan`, and the
 * agent's change detection all call this, so they cannot disagree.
 *
 * Rules (Terraform's): an optional+computed attribute left out of `proposed` keeps whatever was chosen
 * for it (no change); values compare with {@link deepEqual}; a change to a `requiresReplace` attribute
 * makes the action `replace`, any other change `update`. Attributes named in `ignore` are skipped
 * (lifecycle.ignoreChanges).
 */
export function diffInputs(
  schema: ResourceSchema,
  prior: Readonly<Record<string, unknown>>,
  proposed: Readonly<Record<string, unknown>>,
  ignore?: ReadonlySet<string>,
): InputDiff {
  const changes: AttributeDiff[] = [];
  let replace = false;
  for (const a of attributes(schema)) {
    if (!a.input || ignore?.has(a.name)) continue;
    const want = proposed[a.name];
    const had = prior[a.name];
    if (want === undefined && a.computed) continue;
    if (deepEqual(want, had) || (want === undefined && had === undefined)) continue;
    const requiresReplace = a.requiresReplace === true;
    replace ||= requiresReplace;
    changes.push({
      name: a.name,
      before: had,
      after: want,
      requiresReplace,
      sensitive: a.sensitive === true,
    });
  }
  return { action: replace ? 'replace' : changes.length ? 'update' : 'no-op', changes };
}
