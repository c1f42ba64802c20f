import { z } from 'zod';
import { encodeBase32 } from '../control/base32.js';
import { generateOnionClientAuthKeyPair } from '../control/onion-service.js';

/** A device authorized to see the service: only its public key is kept. */
export interface CallHomeClient {
  readonly name: string;
  /** x25519 public key, base32 (52 characters): what ADD_ONION's ClientAuthV3 takes. */
  readonly publicKeyBase32: string;
}

/** What a new client is given once; the private key is kept nowhere else. */
export interface CallHomeClientCredentials extends CallHomeClient {
  readonly onionAddress: string;
  /**
   * `<address without .onion>:descriptor:x25519:<base32 private key>`: the content of a
   * `<name>.auth_private` file in the client tor's ClientOnionAuthDir.
   */
  readonly authLine: string;
  /** The x25519 private key in base32 (52 characters), as Tor Browser's client-auth prompt asks for it. */
  readonly privateKeyBase32: string;
}

export const CallHomeClientNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/,
    'a client name is 1-32 of A-Z a-z 0-9 _ -, starting with a letter or digit',
  );

export const CallHomeClientSchema = z
  .object({
    name: CallHomeClientNameSchema,
    publicKeyBase32: z
      .string()
      .regex(/^[A-Z2-7]{52}$/, 'an x25519 public key in upper-case base32 without padding (52 characters)'),
  })
  .strict();

/** Makes a client key pair for `serviceId` and the line the client's tor needs. */
export function createClientCredentials(name: string, serviceId: string): CallHomeClientCredentials {
  const pair = generateOnionClientAuthKeyPair();
  const privateKeyBase32 = encodeBase32(Buffer.from(pair.privateKeyBase64, 'base64'));
  return {
    name,
    publicKeyBase32: pair.publicKeyBase32,
    onionAddress: `${serviceId}.onion`,
    authLine: formatClientAuthLine(serviceId, privateKeyBase32),
    privateKeyBase32,
  };
}

/** The `.auth_private` line format of tor's ClientOnionAuthDir (tor(1), CLIENT AUTHORIZATION). */
export function formatClientAuthLine(serviceId: string, privateKeyBase32: string): string {
  return `${serviceId}:descriptor:x25519:${privateKeyBase32}`;
}
