import type { ResourceType } from '@stratus/model';
import { CodedError } from '../errors.js';

/** Current version of the state document format. */
export const STATE_VERSION = 1;

/** One managed resource as the engine last applied it. */
export interface StateResource {
  name: string;
  type: ResourceType;
  /** The id the agent knows the resource by. */
  id: string;
  /** The host the resource lives on (`local` when absent: state written before hosts existed). */
  host?: string;
  /** Schema version of the type the attributes were recorded under (1 when absent). */
  schemaVersion?: number;
  /** The provider's private data about the resource (opaque to the engine). */
  private?: string;
  /** Input attributes whose values came from a sensitive attribute: redacted like it. */
  sensitive?: string[];
  /** Inputs and outputs. */
  attributes: Record<string, unknown>;
  /** Names of resources this one depended on when applied; deletes run in reverse of these. */
  dependencies: string[];
  /**
   * `ready`: applied. `tainted`: its create failed or was interrupted; the next apply replaces it.
   * `creating`: written before the create call, so an interrupted create is never orphaned.
   * `deposed`: the old object of a create-before-destroy replace, waiting to be destroyed.
   */
  status: 'ready' | 'tainted' | 'creating' | 'deposed';
}

/** A recorded output value. */
export interface StateOutput {
  value: unknown;
  sensitive: boolean;
}

/** The engine's record of what it applied: a versioned document. */
export interface StateDoc {
  version: number;
  /** Increases with every write. */
  serial: number;
  /** Identifies this state's history; writes from another lineage are refused. */
  lineage: string;
  stack: string;
  resources: StateResource[];
  outputs: Record<string, StateOutput>;
  /**
   * Secret seed (64 hex digits) of the stack's random values (see StackConfig.randomSeed): kept from
   * the first apply that needed it; never printed.
   */
  randomSeed?: string;
  /**
   * Keyed digests of the values a Heat template's top-level parameters had at the last apply, so the
   * next plan can refuse a change of an `immutable: true` parameter (as Heat refuses the stack update)
   * without the state holding any parameter's value (hidden ones included).
   */
  parameters?: ParameterDigests;
}

/**
 * Digests of parameter values: `digests[name]` is HMAC-SHA256 (hex), keyed by `salt`, of the parameter's
 * name and canonical JSON value (engine/parameters.ts). The salt (32 hex digits) is made at the stack's
 * first apply and kept, so digests of later plans compare; it makes the digests useless against
 * precomputed tables of common values.
 */
export interface ParameterDigests {
  salt: string;
  digests: Record<string, string>;
}

/** Who holds a state lock, and since when. */
export interface LockInfo {
  id: string;
  operation: string;
  who: string;
  created: string;
  /**
   * The holder process as `BOOT_ID/pid:[INODE]/PID/START` (boot id, pid namespace, pid, start time in
   * clock ticks), so a later run on the same host can tell that the holder died, even when its pid was
   * reused. Absent in locks of older versions and where /proc does not tell.
   */
  process?: string;
}

/** Callbacks of {@link StateBackend.lock}. */
export interface LockHooks {
  /** Told, with a one-line note for the user, when a lock whose holder died on this host was removed. */
  onStaleCleared?(message: string): void;
}

/** Where state lives. Implementations: local file (default) and, later, PostgreSQL. */
export interface StateBackend {
  /** Human description, e.g. the file path. */
  readonly where: string;
  read(): Promise<StateDoc | null>;
  /** Writes `doc`; refuses a different lineage or a serial not newer than the stored one. */
  write(doc: StateDoc): Promise<void>;
  /**
   * Takes the lock or fails at once (StateError `locked`) naming the holder and since when. Returns the
   * release function. A lock whose holder is known to be dead (a process of this host's boot and pid
   * namespace that is gone, or whose pid now names another process) is removed first, and
   * `hooks.onStaleCleared` told so; a live or unknown holder's lock always blocks.
   */
  lock(operation: string, hooks?: LockHooks): Promise<() => Promise<void>>;
  /** Removes a lock left behind by a crashed run; `lockId` must match the held lock's id. */
  forceUnlock(lockId: string): Promise<void>;
}

/** A state operation refused: lock held, lineage mismatch, stale serial. */
export class StateError extends CodedError<
  'locked' | 'not_locked' | 'lineage_mismatch' | 'stale_serial' | 'corrupt'
> {}
