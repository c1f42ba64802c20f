import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { aeadDecrypt, aeadEncrypt, KEY_BYTES, NONCE_BYTES } from './aead.js';
import { decodeBase32, encodeBase32 } from './base32.js';
import { VaultError } from './errors.js';
import { encodeShareLabel } from './share-codec.js';
import { X25519_KEY_BYTES, type EncryptedShare, type PlainShare } from './share.js';

/*
 * Sealing a share to a custodian's X25519 key, in the manner of age's X25519 recipient:
 *
 *   ephemeral       = fresh X25519 key pair, one per share
 *   shared          = X25519(ephemeral.private, recipient.public)   (all-zero result rejected)
 *   key ‖ nonce     = HKDF-SHA256(ikm = shared, salt = ephemeral.public ‖ recipient.public,
 *                                 info = "multiverse-keyvault/v1/share-seal", 44 bytes)
 *   sealedPoint     = AES-256-GCM(key, nonce, point, aad = share label bytes)
 *
 * The key is used once, so the derived nonce is safe. The label (vault id, set, index, N, K) is
 * the associated data: a sealed point moved under another label fails to open. Only the
 * ephemeral public key and the sealed point are stored, so the printed share alone reveals
 * nothing about the point.
 *
 * Custodian keys as text: `MVPUB-` / `MVSECRET-` then base32 of the 32-byte key and a 3-byte
 * SHA-256 check, so a mistyped key is refused rather than sealing a share nobody can open.
 */
const SEAL_INFO = 'multiverse-keyvault/v1/share-seal';
const PUBLIC_PREFIX = 'MVPUB-';
const SECRET_PREFIX = 'MVSECRET-';
const KEY_CHECK_BYTES = 3;
// DER wrappers (RFC 8410) that turn a raw 32-byte X25519 key into SPKI / PKCS#8 for node:crypto.
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface CustodianKeyPair {
  /** Give this to the vault owner: shares are sealed to it. */
  readonly publicKey: string;
  /** The custodian keeps this apart from the printed share. */
  readonly privateKey: string;
}

export function generateCustodianKeyPair(): CustodianKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const rawPrivate = rawKey(privateKey.export({ format: 'der', type: 'pkcs8' }));
  const text = {
    publicKey: encodeKeyText(PUBLIC_PREFIX, rawKey(publicKey.export({ format: 'der', type: 'spki' }))),
    privateKey: encodeKeyText(SECRET_PREFIX, rawPrivate),
  };
  rawPrivate.fill(0);
  return text;
}

/** Seals a plain share to a custodian's public key (text form or raw 32 bytes). */
export function encryptShare(share: PlainShare, recipientPublicKey: string | Uint8Array): EncryptedShare {
  const recipientRaw = parseKey(recipientPublicKey, PUBLIC_PREFIX, 'public');
  const recipient = createPublicKey({
    key: Buffer.concat([SPKI_X25519_PREFIX, recipientRaw]),
    format: 'der',
    type: 'spki',
  });
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPublicKey = rawKey(ephemeral.publicKey.export({ format: 'der', type: 'spki' }));
  const { key, nonce } = sealingKey(ephemeral.privateKey, recipient, ephemeralPublicKey, recipientRaw);
  const sealedPoint = aeadEncrypt(key, nonce, share.point, encodeShareLabel(share, true));
  key.fill(0);
  const { point: _point, ...label } = share;
  return { ...label, encrypted: true, ephemeralPublicKey, sealedPoint };
}

/** Opens an encrypted share with the custodian's private key (text form or raw 32 bytes). */
export function decryptShare(share: EncryptedShare, privateKey: string | Uint8Array): PlainShare {
  const privateRaw = parseKey(privateKey, SECRET_PREFIX, 'private');
  const recipientPrivate = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, privateRaw]),
    format: 'der',
    type: 'pkcs8',
  });
  if (typeof privateKey === 'string') privateRaw.fill(0);
  const recipientRaw = rawKey(createPublicKey(recipientPrivate).export({ format: 'der', type: 'spki' }));
  const ephemeral = createPublicKey({
    key: Buffer.concat([SPKI_X25519_PREFIX, share.ephemeralPublicKey]),
    format: 'der',
    type: 'spki',
  });
  const { key, nonce } = sealingKey(recipientPrivate, ephemeral, share.ephemeralPublicKey, recipientRaw);
  const point = aeadDecrypt(key, nonce, share.sealedPoint, encodeShareLabel(share, true));
  key.fill(0);
  if (point === undefined) {
    throw new VaultError(
      'SHARE_DECRYPT_FAILED',
      `Share ${share.index} could not be decrypted with this private key: it was sealed to another ` +
        "custodian's key, or the share was altered. Use the private key of the custodian it was made for.",
      { shareIndex: share.index },
    );
  }
  const { ephemeralPublicKey: _ephemeral, sealedPoint: _sealed, ...label } = share;
  return { ...label, encrypted: false, point };
}

function sealingKey(
  privateKey: KeyObject,
  publicKey: KeyObject,
  ephemeralPublicKey: Buffer,
  recipientPublicKey: Buffer,
): { key: Buffer; nonce: Buffer } {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (error) {
    // OpenSSL refuses a derivation whose result is all zeros, i.e. a low-order public key.
    throw lowOrderKey(error);
  }
  if (shared.every((byte) => byte === 0)) throw lowOrderKey(undefined);
  const material = Buffer.from(
    hkdfSync(
      'sha256',
      shared,
      Buffer.concat([ephemeralPublicKey, recipientPublicKey]),
      SEAL_INFO,
      KEY_BYTES + NONCE_BYTES,
    ),
  );
  shared.fill(0);
  return { key: material.subarray(0, KEY_BYTES), nonce: material.subarray(KEY_BYTES) };
}

function lowOrderKey(cause: unknown): VaultError {
  return new VaultError(
    'INVALID_ARGUMENT',
    'The X25519 key is a low-order point, which would make the share readable by anyone; ask the custodian for a real key.',
    { cause },
  );
}

function rawKey(der: Buffer): Buffer {
  return der.subarray(der.length - X25519_KEY_BYTES);
}

function encodeKeyText(prefix: string, raw: Buffer): string {
  return prefix + encodeBase32(Buffer.concat([raw, keyTextCheck(prefix, raw)]));
}

function keyTextCheck(prefix: string, raw: Buffer): Buffer {
  return createHash('sha256').update(prefix).update(raw).digest().subarray(0, KEY_CHECK_BYTES);
}

function parseKey(input: string | Uint8Array, prefix: string, kind: 'public' | 'private'): Buffer {
  if (input instanceof Uint8Array) {
    if (input.byteLength !== X25519_KEY_BYTES) {
      throw new VaultError(
        'INVALID_ARGUMENT',
        `A raw X25519 ${kind} key is ${X25519_KEY_BYTES} bytes, not ${input.byteLength}.`,
      );
    }
    return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  const compact = typeof input === 'string' ? input.replace(/\s+/g, '') : '';
  const decoded = compact.toUpperCase().startsWith(prefix)
    ? decodeBase32(compact.slice(prefix.length).replace(/-/g, ''))
    : undefined;
  if (decoded?.length !== X25519_KEY_BYTES + KEY_CHECK_BYTES) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `Not a custodian ${kind} key: expected ${prefix} followed by ${Math.ceil(((X25519_KEY_BYTES + KEY_CHECK_BYTES) * 8) / 5)} base32 characters.`,
    );
  }
  const raw = decoded.subarray(0, X25519_KEY_BYTES);
  if (!keyTextCheck(prefix, raw).equals(decoded.subarray(X25519_KEY_BYTES))) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `The custodian ${kind} key has a typo (its check characters do not match).`,
    );
  }
  return raw;
}
