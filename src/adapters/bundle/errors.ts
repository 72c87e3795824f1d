/**
 * Why a bundle (or backup, or card) was refused. Each is an `invalid_bundle` AppError (one JSON-RPC
 * code); `reason` tells tests and scripts which check failed.
 */
import { AppError } from '../../domain/errors.js';

export type BundleProblem =
  | 'corrupt'
  | 'checksum_mismatch'
  | 'newer_version'
  | 'unsupported_format'
  | 'too_large'
  | 'invalid_rows';

export class BundleError extends AppError {
  readonly reason: BundleProblem;

  constructor(reason: BundleProblem, message: string, detail?: unknown) {
    super('invalid_bundle', message, { data: { reason }, detail });
    this.name = 'BundleError';
    this.reason = reason;
  }
}
