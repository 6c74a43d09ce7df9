import type { ApiErrorBody } from '@stratus/sdk/client';

/** An API failure with a stable code; rendered as `{code, message, field?, retryable?}`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly retryable = false,
  ) {
    super(message);
  }

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
