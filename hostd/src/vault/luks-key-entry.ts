import { randomBytes } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { z } from 'zod';

/**
 * The passphrase of one LUKS-encrypted disk, kept in the vault as entry `luks/<secret-uuid>`. The UUID is
 * the libvirt secret's, which the domain XML names in the disk's `<encryption>`; the volume is the disk
 * file (libvirt's usage id for volume secrets). JSON so an owner restoring a disk by hand can read it
 * (`mvctl vault get luks/…`): qemu-img takes the passphrase as it is written here.
 */
export const LUKS_ENTRY_PREFIX = 'luks/';
const LUKS_KEY_FORMAT = 'multiverse-luks-key/1';
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const luksKeySchema = z.strictObject({
  format: z.literal(LUKS_KEY_FORMAT),
  volume: z.string().refine(isAbsolute, { message: 'an absolute path' }),
  /** 256 random bits as base64url: far beyond brute force whatever LUKS's key-derivation cost. */
  passphrase: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});

export type LuksKey = z.infer<typeof luksKeySchema>;

export function luksEntryName(secretUuid: string): string {
  if (!UUID_PATTERN.test(secretUuid)) throw new RangeError(`not a lower-case UUID: ${secretUuid}`);
  return `${LUKS_ENTRY_PREFIX}${secretUuid}`;
}

/** The secret UUID of a `luks/<uuid>` entry name; undefined for other entries. */
export function secretUuidOfEntry(name: string): string | undefined {
  if (!name.startsWith(LUKS_ENTRY_PREFIX)) return undefined;
  const uuid = name.slice(LUKS_ENTRY_PREFIX.length);
  return UUID_PATTERN.test(uuid) ? uuid : undefined;
}

export function newLuksKey(volume: string): LuksKey {
  return { format: LUKS_KEY_FORMAT, volume, passphrase: randomBytes(32).toString('base64url') };
}

export function encodeLuksKey(key: LuksKey): Buffer {
  return Buffer.from(JSON.stringify(key), 'utf8');
}

/** Reads an entry's value; throws a message naming what is wrong (the entry was edited by hand). */
export function decodeLuksKey(value: Buffer): LuksKey {
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    throw new Error('the value is not JSON');
  }
  const parsed = luksKeySchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'value'}: ${issue.message}`).join('; '),
    );
  }
  return parsed.data;
}
