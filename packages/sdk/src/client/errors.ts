import type { ApiErrorBody } from '@stratus/model';
import { CodedError } from '@stratus/model/errors';

export type { ApiErrorBody };

/**
 * An error answered by an agent (or a failure to reach it), with a stable `code` to switch on.
 * `AgentApiError.isInstance` also recognizes one created by another copy of this package.
 */
export class AgentApiError extends CodedError {
  constructor(
    /** HTTP status of the answer; 0 when the agent could not be reached. */
    readonly status: number,
    code: string,
    message: string,
    /** The request field the error concerns, as a path such as `nics[0].network`. */
    readonly field?: string,
    /** Whether repeating the same request may succeed (the agent said so, e.g. libvirtd restarting). */
    readonly retryable = false,
  ) {
    super(code, message);
  }
}
