/**
 * The agent's domain errors: what services and drivers throw when a request cannot be honoured. Each class
 * is a kind of failure (the API maps kinds to HTTP statuses in api/errors.ts, and nowhere else); each
 * instance carries a stable `code` a client can switch on (the kind's default, or a finer one such as
 * `domain_not_found`), and, when one input attribute is to blame, its path (`networks[0].subnet` once
 * formatted by the model's `formatPath`).
 */
import { type AttributePath, CodedError } from '@stratus/model';

/** What an {@link AgentError} may carry besides its message. */
export interface AgentErrorOptions {
  /** A finer code than the kind's default (e.g. `image_has_backing_file` for an InvalidRequest). */
  code?: string;
  /** The input attribute at fault. */
  field?: AttributePath;
  cause?: unknown;
}

/** The base of the agent's domain errors. Subclasses set `defaultCode` and (when true) `retryable`. */
export abstract class AgentError extends CodedError<string> {
  /** Code used when the thrower gives none. */
  static readonly defaultCode: string = 'error';
  /** The input attribute at fault, if one is. */
  readonly field?: AttributePath;

  constructor(message: string, opts: AgentErrorOptions = {}) {
    super(opts.code ?? (new.target as unknown as { defaultCode: string }).defaultCode, message, {
      cause: opts.cause,
    });
    if (opts.field !== undefined) this.field = opts.field;
  }

  /** Whether repeating the same request later may succeed (the host was briefly unavailable). */
  get retryable(): boolean {
    return false;
  }

  /**
   * This error blamed on `field` (for a driver's error, whose caller knows which input it came from); an
   * error that already names a field is returned as it is.
   */
  at(field: AttributePath): AgentError {
    if (this.field !== undefined) return this;
    const Kind = this.constructor as new (message: string, opts: AgentErrorOptions) => AgentError;
    return new Kind(this.message, { code: this.code, field, cause: this.cause });
  }
}

/** The request is malformed or asks for something impossible (a value the host refuses, a bad file). */
export class InvalidRequest extends AgentError {
  static override readonly defaultCode = 'invalid_request';
}

/** The request names another resource (by id) that does not exist on this host. */
export class InvalidReference extends AgentError {
  static override readonly defaultCode = 'invalid_reference';
}

/** The resource (or host object) addressed does not exist. */
export class NotFound extends AgentError {
  static override readonly defaultCode = 'not_found';
}

/** The request contradicts the current state (a host object already managed, overlapping ranges, ...). */
export class Conflict extends AgentError {
  static override readonly defaultCode = 'conflict';
}

/** An attribute that cannot change in place was changed: the resource must be replaced. */
export class RequiresReplace extends AgentError {
  static override readonly defaultCode = 'requires_replace';
}

/** The resource cannot be deleted while others use it. */
export class InUse extends AgentError {
  static override readonly defaultCode = 'in_use';
}

/** No address (or other pooled value) is left to allocate. */
export class PoolExhausted extends AgentError {
  static override readonly defaultCode = 'pool_exhausted';
}

/** A host service the agent needs (libvirtd) is unreachable for now; the same request may succeed later. */
export class Unavailable extends AgentError {
  static override readonly defaultCode = 'unavailable';
  override get retryable(): boolean {
    return true;
  }
}

/** A host tool failed in a way the request did not cause (libvirt refused a definition, a path is unusable). */
export class HostFailure extends AgentError {
  static override readonly defaultCode = 'host_error';
}

/**
 * What a request asked to wait for (a server's guest taking its DHCP lease, a port accepting connections)
 * did not happen within its timeout. The resource itself is complete; the same request waits again.
 */
export class WaitTimeout extends AgentError {
  static override readonly defaultCode = 'wait_timeout';
}
