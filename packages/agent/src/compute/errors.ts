/** Stable codes of {@link ComputeError}, meant to be mapped one-to-one onto API error codes. */
export type ComputeErrorCode =
  /** No libvirt domain of that server exists. */
  | 'domain_not_found'
  /** libvirtd could not be reached (not running, socket missing, connection lost and not re-established). */
  | 'libvirt_unavailable'
  /** libvirt refused or failed an operation; the message carries libvirt's own text. */
  | 'libvirt_error';

const COMPUTE_ERROR = Symbol.for('stratus.agent.ComputeError');

/** A failure of the compute driver with a stable `code`; `cause` holds libvirt's original error. */
export class ComputeError extends Error {
  override readonly name = 'ComputeError';
  readonly [COMPUTE_ERROR] = true;
  constructor(
    readonly code: ComputeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True for a ComputeError, also one created by another copy of this module (a brand, not `instanceof`). */
  static isInstance(e: unknown): e is ComputeError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[COMPUTE_ERROR] === true;
  }
}
