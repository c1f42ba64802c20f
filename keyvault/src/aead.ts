import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256-GCM with a random 96-bit nonce. A sealed record is `nonce ‖ ciphertext ‖ tag`. */
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const AEAD_OVERHEAD = NONCE_BYTES + TAG_BYTES;

export function aeadSeal(key: Buffer, plaintext: Uint8Array, associatedData: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  return Buffer.concat([nonce, aeadEncrypt(key, nonce, plaintext, associatedData)]);
}

/** The plaintext, or `undefined` when the record fails authentication (wrong key, data or AAD). */
export function aeadOpen(key: Buffer, record: Uint8Array, associatedData: Uint8Array): Buffer | undefined {
  if (record.byteLength < AEAD_OVERHEAD) return undefined;
  const bytes = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  return aeadDecrypt(key, bytes.subarray(0, NONCE_BYTES), bytes.subarray(NONCE_BYTES), associatedData);
}

/** `ciphertext ‖ tag` under a caller-chosen nonce (only for keys used exactly once). */
export function aeadEncrypt(
  key: Buffer,
  nonce: Buffer,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([ciphertext, cipher.getAuthTag()]);
}

export function aeadDecrypt(
  key: Buffer,
  nonce: Buffer,
  sealed: Buffer,
  associatedData: Uint8Array,
): Buffer | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  const ciphertext = sealed.subarray(0, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData);
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(ciphertext);
  try {
    // GCM releases nothing at final(); it only checks the tag, so no copy of the plaintext is made.
    decipher.final();
    return plaintext;
  } catch {
    plaintext.fill(0);
    return undefined;
  }
}
