/** What kind of failure: decides the HTTP status and mvctl's exit code, so front ends never parse codes. */
export type ServiceErrorKind =
  | 'invalid-input'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  /** Something hostd needs is not there right now (libvirtd down); retrying later may work. */
  | 'unavailable'
  /** libvirt or another component hostd drives refused or failed. */
  | 'upstream'
  | 'internal';

/** Every error a verb returns: a stable code, what failed, and what to do about it. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';

  constructor(
    readonly kind: ServiceErrorKind,
    readonly code: string,
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  toJSON(): { code: string; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}
