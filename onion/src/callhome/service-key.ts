import { createHash, generateKeyPairSync } from 'node:crypto';
import { z } from 'zod';
import { encodeBase32 } from '../control/base32.js';
import { isOnionServiceId } from '../control/onion-service.js';

/**
 * An onion service's identity: the v3 address and the key that proves it, in the form tor's ADD_ONION takes
 * (`ED25519-V3:<base64 of the 64-byte expanded secret key>`). Whoever holds `privateKey` can publish the
 * address: keep it where only root reads it (hostd: `<stateDir>/callhome/`, outside the vault, so the owner can
 * reach a sealed host).
 */
export interface OnionServiceKey {
  /** The address without ".onion". */
  readonly serviceId: string;
  /** Base64 of the 64-byte expanded ed25519 secret key (88 characters). */
  readonly privateKey: string;
}

/** Where call-home keeps its service key between runs (hostd: a 0600 file in its state directory). */
export interface OnionServiceKeyStore {
  load(): Promise<OnionServiceKey | undefined>;
  save(key: OnionServiceKey): Promise<void>;
}

export const OnionServiceKeySchema = z
  .object({
    serviceId: z
      .string()
      .refine(isOnionServiceId, 'a v3 onion address without ".onion" (56 base32 characters)'),
    privateKey: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'the 88-character base64 ED25519-V3 key blob'),
  })
  .strict();

/**
 * Makes a new service key here rather than asking tor (ADD_ONION NEW), so the key is stored before the
 * address is ever published. tor's blob is the ed25519 "expanded" secret key: SHA-512 of the 32-byte seed,
 * its first half clamped as RFC 8032 §5.1.5 says (the scalar), its second half the nonce prefix.
 */
export function generateOnionServiceKey(): OnionServiceKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicJwk = publicKey.export({ format: 'jwk' });
  const privateJwk = privateKey.export({ format: 'jwk' });
  if (typeof publicJwk.x !== 'string' || typeof privateJwk.d !== 'string') {
    throw new Error('node did not export the ed25519 key as a JWK with x and d');
  }
  return onionServiceKeyFromSeed(
    Buffer.from(privateJwk.d, 'base64url'),
    Buffer.from(publicJwk.x, 'base64url'),
  );
}

/** The service key for an ed25519 seed and its public key. */
export function onionServiceKeyFromSeed(seed: Buffer, publicKey: Buffer): OnionServiceKey {
  if (seed.length !== 32 || publicKey.length !== 32)
    throw new Error('an ed25519 seed and public key are 32 bytes');
  const expanded = createHash('sha512').update(seed).digest();
  expanded[0] = (expanded[0] as number) & 248;
  expanded[31] = ((expanded[31] as number) & 127) | 64;
  return { serviceId: onionServiceIdOf(publicKey), privateKey: expanded.toString('base64') };
}

/** rend-spec-v3 §6: base32(PUBKEY | CHECKSUM | VERSION), CHECKSUM = SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2]. */
export function onionServiceIdOf(publicKey: Buffer): string {
  const version = Buffer.from([3]);
  const checksum = createHash('sha3-256')
    .update(Buffer.from('.onion checksum'))
    .update(publicKey)
    .update(version)
    .digest()
    .subarray(0, 2);
  return encodeBase32(Buffer.concat([publicKey, checksum, version])).toLowerCase();
}
