// Checks on what callers pass to LibvirtClient, so a bad argument fails here with a message naming it
// instead of reaching libvirtd as a malformed packet or a confusing remote error.
import { REMOTE_STRING_MAX } from './codec.js';
import { isUuid } from './uuid.js';

/** A method was called with an argument it cannot send; the message names the argument and what it must be. */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'LIBVIRT_INVALID_ARGUMENT';
}

/**
 * Flags of a call: one number (values of the named generated enum OR-ed together) or a list of those
 * values, e.g. `[ConnectListAllDomainsFlags.ACTIVE, ConnectListAllDomainsFlags.PERSISTENT]`.
 */
export type Flags<Value extends number = number> = number | readonly Value[];

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '…' : value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function fail(what: string, expected: string, value: unknown): never {
  throw new InvalidArgumentError(`${what} must be ${expected}, got ${describe(value)}`);
}

/** A name of a libvirt object (domain, network, pool, volume, snapshot, disk): a non-empty string. */
export function requireName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(what, 'a non-empty string', value);
  if (value.includes('\0')) fail(what, 'a string without NUL characters', value);
  if (Buffer.byteLength(value) > REMOTE_STRING_MAX) fail(what, `at most ${REMOTE_STRING_MAX} bytes`, value);
  return value;
}

/** An XML document; libvirtd parses and judges it, so only emptiness is refused here. */
export function requireXml(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim().length === 0) fail(what, 'a non-empty XML document', value);
  if (Buffer.byteLength(value) > REMOTE_STRING_MAX) fail(what, `at most ${REMOTE_STRING_MAX} bytes`, value);
  return value;
}

/** Any string, empty allowed (e.g. a secret's usage id, which is empty for usage type NONE). */
export function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string') fail(what, 'a string', value);
  if (Buffer.byteLength(value) > REMOTE_STRING_MAX) fail(what, `at most ${REMOTE_STRING_MAX} bytes`, value);
  return value;
}

export function requireOptionalName(value: unknown, what: string): string | null {
  return value === undefined || value === null ? null : requireName(value, what);
}

/** A UUID in the canonical 8-4-4-4-12 form; returned in lower case. */
export function requireUuid(value: unknown, what: string): string {
  if (!isUuid(value)) fail(what, 'a UUID like 4dea22b3-1d52-d8f3-2516-782e98ab3fa0', value);
  return value.toLowerCase();
}

export function requireInt(value: unknown, what: string, min = -0x80000000, max = 0x7fffffff): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(what, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function requireBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') fail(what, 'true or false', value);
  return value;
}

/** An `unsigned hyper` (offsets, lengths, bandwidth): a bigint, or a number that is a safe integer. */
export function requireUnsigned64(value: unknown, what: string): bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'bigint' && value >= 0n && value < 2n ** 64n) return value;
  return fail(what, 'a non-negative integer below 2^64 (a bigint, or a number up to 2^53)', value);
}

/** Flags as one unsigned 32-bit number, accepting either form of {@link Flags}. */
export function requireFlags(value: unknown, what = 'flags'): number {
  if (value === undefined) return 0;
  if (Array.isArray(value)) {
    let combined = 0;
    value.forEach((flag, index) => {
      combined = (combined | requireInt(flag, `${what}[${index}]`, 0, 0xffffffff)) >>> 0;
    });
    return combined;
  }
  return requireInt(value, what, 0, 0xffffffff);
}

export function requireBytes(value: unknown, what: string, maxLength: number): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(what, 'a Buffer or Uint8Array', value);
  if (value.length > maxLength) fail(what, `at most ${maxLength} bytes`, `${value.length} bytes`);
  return value;
}

export function requireArray(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) fail(what, 'an array', value);
  return value as readonly unknown[];
}

/** An object argument (a handle such as a Domain); its fields are checked by the caller. */
export function requireRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(what, 'an object', value);
  return value as Record<string, unknown>;
}
