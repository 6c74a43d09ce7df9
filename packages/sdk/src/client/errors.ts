/** The error body of every agent API failure. */
export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
  retryable?: boolean;
}

const BRAND = Symbol.for('stratus.AgentApiError');

/** An error answered by an agent (or a failure to reach it), with a stable `code` to switch on. */
export class AgentApiError extends Error {
  override readonly name = 'AgentApiError';
  readonly [BRAND] = true;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly retryable = false,
  ) {
    super(message);
  }

  /** Whether `e` is an AgentApiError, also across copies of this package. */
  static isInstance(e: unknown): e is AgentApiError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}
