import { AgentApiError, type ApiErrorBody } from '@stratus/sdk/client';

/**
 * An API failure with a stable code, as the agent answers it: the server side of the client's
 * {@link AgentApiError} (same fields), rendered as `{code, message, field?, retryable?}`.
 */
export class ApiError extends AgentApiError {
  /** The JSON body the agent answers with. */
  toBody(): ApiErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.field ? { field: this.field } : {}),
      ...(this.retryable ? { retryable: true } : {}),
    };
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const badRequest = (message: string, field?: string) =>
  new ApiError(400, 'invalid_request', message, field);
export const conflict = (code: string, message: string, field?: string) =>
  new ApiError(409, code, message, field);
