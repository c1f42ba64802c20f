import { createHash } from 'node:crypto';

/** The `prev_hash` of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of an audit row that its hash covers: everything but the hash itself. */
export interface ChainedFields {
  readonly seq: number;
  readonly at: string;
  readonly actorUser: string;
  readonly actorRole: string;
  readonly actorVia: string;
  readonly action: string;
  readonly target: string;
  readonly result: string;
  /** Canonical JSON text, exactly as stored. */
  readonly details: string;
  readonly prevHash: string;
}

/**
 * The row's bytes for hashing: a JSON array in a fixed order. JSON strings escape every separator, so two
 * different rows cannot encode the same way; the sequence number is inside, so a row moved elsewhere no
 * longer matches its hash.
 */
export function canonicalRow(fields: Omit<ChainedFields, 'prevHash'>): string {
  return JSON.stringify([
    fields.seq,
    fields.at,
    fields.actorUser,
    fields.actorRole,
    fields.actorVia,
    fields.action,
    fields.target,
    fields.result,
    fields.details,
  ]);
}

/** sha256(previous hash || canonical row), the previous hash taken as its 32 raw bytes. */
export function chainHash(fields: ChainedFields): string {
  return createHash('sha256')
    .update(Buffer.from(fields.prevHash, 'hex'))
    .update(canonicalRow(fields), 'utf8')
    .digest('hex');
}

/**
 * JSON with object keys sorted at every level, so equal details always store (and hash) the same text.
 * Members whose value is undefined are left out (optional fields); any other value that is not JSON data
 * (a function, a bigint, a non-finite number, a class instance) is refused rather than silently recorded
 * as something else.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, '$'));
}

function sortKeys(value: unknown, path: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`audit details: ${path} is not a finite number`);
    return value;
  }
  if (Array.isArray(value)) return value.map((item, index) => sortKeys(item, `${path}[${index}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort()
        .map((key) => [key, sortKeys(record[key], `${path}.${key}`)]),
    );
  }
  throw new TypeError(`audit details: ${path} is a ${typeof value}, not JSON data`);
}
