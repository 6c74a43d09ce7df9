/**
 * The provider protocol: the one seam every front end (the engine behind the CLI and TypeScript
 * programs, the Terraform provider, the Pulumi provider) calls to validate, plan and realize a resource.
 * Shaped like Terraform's `providers.Interface`: each method takes a request value and returns a
 * response that carries diagnostics with attribute paths. Values are plain JSON in which the one
 * {@link UNKNOWN} marker may stand for anything known only after apply.
 */
import type { AttributeDiff, AttributePath, ResourceSchema, ResourceType, Unknown } from '@stratus/model';

/** Attribute values of one resource: plain JSON, with UNKNOWN where a value is known only after apply. */
export type Values = Record<string, unknown>;

/** A problem a provider reports, tied to an attribute when it concerns one. */
export interface ProtocolDiagnostic {
  severity: 'error' | 'warning';
  /** One line for people. Never holds a secret. */
  summary: string;
  /** The attribute the problem concerns, inside the resource's values (`networks[0].subnet`). */
  path?: AttributePath;
  /** A stable code to switch on, when the problem came from an agent (`requires_replace`, `in_use`). */
  code?: string;
  /** Whether repeating the call may succeed. */
  retryable?: boolean;
}

/** Where log lines of provider calls go (the CLI's debug log, a provider's stderr). */
export interface ProtocolLog {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** What every call that may reach a host gets. */
export interface ProviderContext {
  /** Aborted on timeout or a hard interrupt: the in-flight agent request is cancelled. */
  signal: AbortSignal;
  log: ProtocolLog;
  /** The host the resource lives on (`local` today). */
  host: string;
  /**
   * Reports how far a long operation has come, in a few words for the user's live view (`downloaded
   * 120.0 MiB of 512.0 MiB`); called about once a second at most. Absent when nobody shows progress.
   */
  progress?: (detail: string) => void;
}

export interface ValidateResourceRequest {
  /** Input values after defaults; references not resolved yet are UNKNOWN. */
  config: Values;
  /**
   * The values were already validated against the type's JSON Schema (the stack loaders do it, with
   * source positions): check only the type's own rules. Front ends that did not must leave it unset.
   */
  schemaChecked?: boolean;
}
export interface ValidateResourceResponse {
  diagnostics: ProtocolDiagnostic[];
}

export interface PlanResourceRequest {
  /** Attributes as last read (null: the resource does not exist yet). */
  prior: Values | null;
  /** Desired input values (null: the resource is to be destroyed). */
  proposed: Values | null;
  /** Input attributes whose changes are ignored (lifecycle.ignoreChanges). */
  ignore?: readonly string[];
  priorPrivate?: string;
}
export interface PlanResourceResponse {
  /** What the resource's attributes will be after apply (UNKNOWN where only apply can tell); null to destroy. */
  planned: Values | null;
  /** Changed attributes that force a replacement; empty for an in-place update. */
  requiresReplace: AttributePath[];
  /** Each input attribute that differs between prior and proposed. */
  changes: AttributeDiff[];
  plannedPrivate?: string;
  diagnostics: ProtocolDiagnostic[];
}

export interface ApplyResourceRequest {
  /** The resource's id: chosen by the engine for a create (so a retried create never duplicates). */
  id: string;
  /** null: create. */
  prior: Values | null;
  /** null: destroy. Otherwise the planned values, with no UNKNOWN left among inputs. */
  planned: Values | null;
  plannedPrivate?: string;
}
export interface ApplyResourceResponse {
  /** The resource's attributes after apply; null once destroyed (or when a create left nothing). */
  newState: Values | null;
  private?: string;
  /**
   * With an error: the object was made or updated and is usable; only something the request asked it to
   * wait for (a server's `wait`) did not happen. `newState` then records the attribute at fault at its
   * prior value, so the next plan proposes it (and the wait) again instead of tainting the object.
   */
  complete?: boolean;
  diagnostics: ProtocolDiagnostic[];
}

export interface ReadResourceRequest {
  id: string;
  /** What state recorded. */
  state: Values;
  private?: string;
}
export interface ReadResourceResponse {
  /** Attributes as the host reports them; null when the object no longer exists. */
  newState: Values | null;
  /** What was changed outside Stratus that an update repairs, in words. */
  drift?: string;
  private?: string;
  diagnostics: ProtocolDiagnostic[];
}

export interface ImportResourceRequest {
  /** How the host knows the object: a libvirt domain name or UUID, a bridge name, an image file path. */
  externalId: string;
}
export interface ImportResourceResponse {
  /** The Stratus id the object is now known by (null when the import failed). */
  id: string | null;
  state: Values | null;
  private?: string;
  diagnostics: ProtocolDiagnostic[];
}

export interface UpgradeResourceStateRequest {
  /** Attributes as recorded under schema version `fromVersion`. */
  state: Values;
  fromVersion: number;
}
export interface UpgradeResourceStateResponse {
  /** The same attributes in the current layout. */
  state: Values;
  diagnostics: ProtocolDiagnostic[];
}

/** One resource type's provider: pure steps (validate, plan, upgrade) and host steps (apply, read, import). */
export interface ResourceProvider {
  readonly type: ResourceType;
  readonly schema: ResourceSchema;
  /** Version of the attribute layout state is recorded in. */
  readonly schemaVersion: number;
  validate(req: ValidateResourceRequest): ValidateResourceResponse;
  plan(req: PlanResourceRequest): PlanResourceResponse;
  apply(ctx: ProviderContext, req: ApplyResourceRequest): Promise<ApplyResourceResponse>;
  read(ctx: ProviderContext, req: ReadResourceRequest): Promise<ReadResourceResponse>;
  import(ctx: ProviderContext, req: ImportResourceRequest): Promise<ImportResourceResponse>;
  upgrade(req: UpgradeResourceStateRequest): UpgradeResourceStateResponse;
}

/** A provider for every registered type. */
export type ProviderSet = Record<ResourceType, ResourceProvider>;

/** Re-exported so protocol users need no engine import. */
export type { AttributeDiff, AttributePath, Unknown };
