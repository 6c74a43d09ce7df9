import { CodedError } from '@stratus/sdk/errors';

/** Stable codes of {@link ComputeError}, meant to be mapped one-to-one onto API error codes. */
export type ComputeErrorCode =
  /** No libvirt domain of that server exists. */
  | 'domain_not_found'
  /** libvirtd could not be reached (not running, socket missing, connection lost and not re-established). */
  | 'libvirt_unavailable'
  /** libvirt refused or failed an operation; the message carries libvirt's own text. */
  | 'libvirt_error';

/** A failure of the compute driver with a stable `code`; `cause` holds libvirt's original error. */
export class ComputeError extends CodedError<ComputeErrorCode> {}
