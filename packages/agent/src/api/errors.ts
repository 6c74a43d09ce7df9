/**
 * The API edge of the agent's errors: the one table from error kinds to HTTP statuses, and the JSON body
 * every failure is answered with (`ApiErrorBody` of @stratus/model: `{code, message, field?, retryable?}`).
 */
import { type ApiErrorBody, formatPath } from '@stratus/model';
import {
  AgentError,
  Conflict,
  HostFailure,
  InUse,
  InvalidReference,
  InvalidRequest,
  NotFound,
  PoolExhausted,
  RequiresReplace,
  Unavailable,
  WaitTimeout,
} from '../errors.js';

/** The caller did not present the agent's bearer token. Only the API raises it. */
export class Unauthorized extends AgentError {
  static override readonly defaultCode = 'unauthorized';
}

/** The path exists but not with this method. Only the API raises it. */
export class MethodNotAllowed extends AgentError {
  static override readonly defaultCode = 'method_not_allowed';
}

/** The request body is larger than the API accepts. Only the API raises it. */
export class PayloadTooLarge extends AgentError {
  static override readonly defaultCode = 'body_too_large';
}

type Kind = abstract new (...args: never[]) => AgentError;

/**
 * HTTP status of each error kind (OpenStack's choices where it has one: Neutron answers 409 for an address
 * already allocated or no address left, Nova 400 for a missing image).
 */
const STATUS: readonly [Kind, number][] = [
  [InvalidRequest, 400],
  [InvalidReference, 400],
  [Unauthorized, 401],
  [NotFound, 404],
  [MethodNotAllowed, 405],
  [Conflict, 409],
  [RequiresReplace, 409],
  [InUse, 409],
  [PoolExhausted, 409],
  [PayloadTooLarge, 413],
  [HostFailure, 500],
  [Unavailable, 503],
  // The gateway-timeout status: the agent did its part, the guest did not answer in time.
  [WaitTimeout, 504],
];

/** The HTTP status and body of a failed request; anything not an {@link AgentError} is a 500 `internal`. */
export function errorResponse(e: unknown): { status: number; body: ApiErrorBody; internal: boolean } {
  if (AgentError.isInstance(e)) {
    const row = STATUS.find(([kind]) => (kind as unknown as typeof AgentError).isInstance(e));
    const body: ApiErrorBody = { code: e.code, message: e.message };
    if (e.field !== undefined && e.field.length > 0) body.field = formatPath(e.field);
    if (e.retryable) body.retryable = true;
    return { status: row?.[1] ?? 500, body, internal: row === undefined };
  }
  return {
    status: 500,
    body: { code: 'internal', message: e instanceof Error ? e.message : String(e), retryable: false },
    internal: true,
  };
}
