import { formatPath, type ResourceType } from '@stratus/model';
import type { SourceRange } from '../diagnostics/index.js';
import type { Value } from './expr.js';

/**
 * Finds where a path was written, when the source has positions. For a resource the path is relative to
 * its declaration (`['properties', 'cidr']`, `['dependsOn', 0]`); for an output, to its value.
 */
export type Locator = (path: readonly (string | number)[]) => SourceRange | undefined;

/** One resource as declared by the user, whatever the front end (stack file, HOT, TypeScript). */
export interface ResourceConfig {
  /**
   * The resource's name in the stack, unique across types; also its address: `web`, or for one
   * instance of a resource with `count` or `forEach`, `web[0]` / `web["a"]` (see expand/address.ts).
   */
  name: string;
  type: ResourceType;
  /** The host the resource is placed on (default `local`: the only host today). */
  host?: string;
  /** Input attributes with defaults applied; strings may hold references. */
  properties: Record<string, Value>;
  /** Explicit dependencies, by name. */
  dependsOn: string[];
  /** Where things inside the declaration were written. */
  locate: Locator;
  /**
   * The source's own words for a path (relative to the declaration, as for `locate`), when the front
   * end names things otherwise than Stratus does: a Heat template's `['properties', 'scheduler_hints',
   * 'group']` for `['properties', 'serverGroup']`. Diagnostics name fields through {@link fieldOf}.
   */
  sourcePath?: (path: readonly (string | number)[]) => readonly (string | number)[];
  lifecycle?: Lifecycle;
  /** Per-operation time limits in milliseconds; defaults per type. */
  timeouts?: Timeouts;
  /**
   * Input attributes whose values come from a sensitive variable (top-level names): redacted as the
   * type's own sensitive attributes are, in plans, state display and output.
   */
  sensitive?: string[];
}

/**
 * The diagnostic field of `path` (relative to the resource's declaration: `['properties', 'cidr']`) in
 * the words of the file the resource came from: `resources.NAME.properties.cidr` for a stack file,
 * `resources.NAME.properties.scheduler_hints.group` for a Heat server's group. Every diagnostic the
 * engine reports about a resource's field names it so, beside `rc.locate(path)`.
 */
export function fieldOf(rc: ResourceConfig, path: readonly (string | number)[]): string {
  const p = rc.sourcePath?.(path) ?? path;
  return p.length ? `resources.${rc.name}.${formatPath([...p])}` : `resources.${rc.name}`;
}

/** Terraform-style lifecycle options of a resource. */
export interface Lifecycle {
  /** On replace, create the new object before destroying the old one. */
  createBeforeDestroy?: boolean;
  /** Refuse any plan that would destroy this resource. */
  preventDestroy?: boolean;
  /** Input attributes whose changes (in config or drift) are ignored after creation. */
  ignoreChanges?: string[];
}

/** Time limits of a resource's operations, in milliseconds. */
export interface Timeouts {
  create?: number;
  update?: number;
  delete?: number;
}

/** An output value of a stack. */
export interface OutputConfig {
  name: string;
  value: Value;
  sensitive: boolean;
  description?: string;
  locate: Locator;
  /** The sensitive variable the value comes from (e.g. `var.password`), when it does: it must be sensitive. */
  sensitiveFrom?: string;
}

/** Where the engine keeps state. */
export type BackendConfig =
  | { type: 'local'; path?: string }
  | {
      type: 'postgres';
      /** Connection URL; may be left out in favour of the STRATUS_BACKEND_URL environment variable. */
      url?: string;
      schema?: string;
    };

/** A whole stack, independent of the front end it came from. */
export interface StackConfig {
  /** Stack name; defaults to the stack file's directory name. */
  name: string;
  /** The file the stack was read from, for messages; and its directory, for relative paths. */
  file: string;
  dir: string;
  /**
   * Every file the stack was made from (absolute paths): the stack file, or a program and each local
   * module it imports. A saved plan records a hash of each and is refused when one changed.
   */
  inputs?: string[];
  resources: Map<string, ResourceConfig>;
  /** Resources declared but not loadable (already reported); references to them are not errors again. */
  invalid?: Set<string>;
  outputs: Map<string, OutputConfig>;
  backend?: BackendConfig;
  /**
   * The secret seed (hex) the loader derived the stack's random values from (a HOT template's
   * OS::Heat::RandomString): the plan carries it and apply keeps it in state (StateDoc.randomSeed), so
   * the values stay the same at every later plan, as Heat keeps a RandomString's value in its stack.
   */
  randomSeed?: string;
  /**
   * A Heat template's top-level parameters and their values for this run: the plan records a keyed
   * digest of each (StateDoc.parameters) and refuses a change of an immutable one (engine/parameters.ts).
   * Absent for stacks that have no such parameters (stack files, programs).
   */
  parameters?: StackParameter[];
}

/** A top-level parameter of a Heat template, for the immutable check at plan. */
export interface StackParameter {
  name: string;
  /** The value after type conversion; undefined when it has none (already reported). Never shown. */
  value: Value | undefined;
  /** `immutable: true`: the value cannot change on a stack update (Heat's ImmutableParameterModified). */
  immutable: boolean;
  /** `hidden: true` (sensitive). */
  hidden: boolean;
  /** Where the value was given (the -P flag has no place: the declaration), for the error. */
  at: SourceRange;
}
