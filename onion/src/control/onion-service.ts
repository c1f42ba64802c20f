import { createHash, generateKeyPairSync } from 'node:crypto';
import { assertBareWord } from './arguments.js';
import { decodeBase32, encodeBase32 } from './base32.js';
import { TorControlError } from './errors.js';
import type { ControlReply } from './reply-parser.js';

export type AddOnionFlag = 'DiscardPK' | 'Detach' | 'V3Auth' | 'NonAnonymous' | 'MaxStreamsCloseCircuit';

/** Where tor sends a virtual port's connections: a TCP address or a unix socket. */
export type OnionPortTarget =
  { readonly host: string; readonly port: number } | { readonly unixPath: string };

export interface OnionPortMapping {
  readonly virtualPort: number;
  /** Omitted: tor connects to 127.0.0.1:virtualPort. */
  readonly target?: OnionPortTarget;
}

export interface AddOnionRequest {
  /** `new`: tor generates an ed25519 key; otherwise the base64 ED25519-V3 blob tor returned earlier. */
  readonly key: { readonly type: 'new' } | { readonly type: 'ed25519-v3'; readonly privateKey: string };
  readonly ports: readonly OnionPortMapping[];
  /** x25519 public keys (base32) of authorized clients; non-empty turns client authorization on. */
  readonly clientAuthV3?: readonly string[];
  readonly flags?: readonly AddOnionFlag[];
  /** Most streams per rendezvous circuit, 0 = unlimited. */
  readonly maxStreams?: number;
}

export interface AddOnionResult {
  /** The address without ".onion". */
  readonly serviceId: string;
  readonly onionAddress: string;
  /** The base64 ED25519-V3 key blob, when tor generated one and DiscardPK was not set. */
  readonly privateKey?: string;
}

/** Builds the ADD_ONION command line (control-spec §3.27), validating every argument first. */
export function formatAddOnion(request: AddOnionRequest): string {
  const words = ['ADD_ONION'];
  if (request.key.type === 'new') {
    words.push('NEW:ED25519-V3');
  } else {
    if (!/^[A-Za-z0-9+/]{86}==$/.test(request.key.privateKey)) {
      throw invalid(
        'an ED25519-V3 private key must be the 88-character base64 blob tor returned from ADD_ONION',
      );
    }
    words.push(`ED25519-V3:${request.key.privateKey}`);
  }
  const clientKeys = request.clientAuthV3 ?? [];
  const flags = new Set(request.flags ?? []);
  if (clientKeys.length > 0) flags.add('V3Auth');
  if (flags.size > 0) words.push(`Flags=${[...flags].join(',')}`);
  if (request.maxStreams !== undefined) {
    if (!Number.isInteger(request.maxStreams) || request.maxStreams < 0 || request.maxStreams > 65535) {
      throw invalid(`MaxStreams must be an integer 0..65535, got ${request.maxStreams}`);
    }
    words.push(`MaxStreams=${request.maxStreams}`);
  }
  if (request.ports.length === 0) throw invalid('an onion service needs at least one port mapping');
  for (const mapping of request.ports) words.push(`Port=${formatPortMapping(mapping)}`);
  for (const key of clientKeys) {
    if (!isX25519PublicKeyBase32(key)) {
      throw invalid(
        `ClientAuthV3 key ${JSON.stringify(key)} is not a base32 x25519 public key (52 characters)`,
      );
    }
    words.push(`ClientAuthV3=${key.replace(/=+$/, '').toUpperCase()}`);
  }
  return words.join(' ');
}

function formatPortMapping(mapping: OnionPortMapping): string {
  assertPort(mapping.virtualPort, 'virtual port');
  const target = mapping.target;
  if (target === undefined) return String(mapping.virtualPort);
  if ('unixPath' in target) {
    assertBareWord(target.unixPath, 'unix socket path of an onion port');
    return `${mapping.virtualPort},unix:${target.unixPath}`;
  }
  assertPort(target.port, 'target port');
  assertBareWord(target.host, 'target host of an onion port');
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${mapping.virtualPort},${host}:${target.port}`;
}

function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw invalid(`${what} must be 1..65535, got ${port}`);
}

export function parseAddOnionReply(reply: ControlReply): AddOnionResult {
  let serviceId: string | undefined;
  let privateKey: string | undefined;
  for (const line of reply.lines) {
    if (line.text.startsWith('ServiceID=')) serviceId = line.text.slice('ServiceID='.length);
    if (line.text.startsWith('PrivateKey=ED25519-V3:'))
      privateKey = line.text.slice('PrivateKey=ED25519-V3:'.length);
  }
  if (serviceId === undefined || !isOnionServiceId(serviceId)) {
    throw new TorControlError(
      'TOR_CONTROL_UNEXPECTED_REPLY',
      `tor answered ADD_ONION without a valid v3 ServiceID line (got ${JSON.stringify(serviceId ?? null)})`,
    );
  }
  return {
    serviceId,
    onionAddress: `${serviceId}.onion`,
    ...(privateKey === undefined ? {} : { privateKey }),
  };
}

/**
 * True for a v3 onion service id (the address without ".onion"): 56 base32 characters encoding an
 * ed25519 key, a SHA3-256 checksum and version 3 (rend-spec-v3 §6).
 */
export function isOnionServiceId(serviceId: string): boolean {
  if (!/^[a-z2-7]{56}$/.test(serviceId)) return false;
  const decoded = decodeBase32(serviceId);
  const publicKey = decoded.subarray(0, 32);
  const version = decoded.subarray(34, 35);
  if (version[0] !== 3) return false;
  const checksum = createHash('sha3-256')
    .update(Buffer.from('.onion checksum'))
    .update(publicKey)
    .update(version)
    .digest()
    .subarray(0, 2);
  return checksum.equals(decoded.subarray(32, 34));
}

/** Accepts `xyz.onion` or `xyz`; returns the service id or throws TOR_CONTROL_INVALID_ARGUMENT. */
export function toOnionServiceId(address: string): string {
  const serviceId = address.toLowerCase().replace(/\.onion$/, '');
  if (!isOnionServiceId(serviceId))
    throw invalid(`${JSON.stringify(address)} is not a valid v3 onion address`);
  return serviceId;
}

function isX25519PublicKeyBase32(key: string): boolean {
  return /^[A-Za-z2-7]{52}(?:====)?$/.test(key);
}

/** A client-authorization key pair in the two forms tor wants. */
export interface OnionClientAuthKeyPair {
  /** For the service: ADD_ONION ClientAuthV3=… (base32, 52 characters). */
  readonly publicKeyBase32: string;
  /** For the client: ONION_CLIENT_AUTH_ADD <id> x25519:… (base64 of the 32-byte private key). */
  readonly privateKeyBase64: string;
}

export function generateOnionClientAuthKeyPair(): OnionClientAuthKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const publicJwk = publicKey.export({ format: 'jwk' });
  const privateJwk = privateKey.export({ format: 'jwk' });
  if (typeof publicJwk.x !== 'string' || typeof privateJwk.d !== 'string') {
    throw new Error('node did not export the x25519 key as a JWK with x and d');
  }
  return {
    publicKeyBase32: encodeBase32(Buffer.from(publicJwk.x, 'base64url')),
    privateKeyBase64: Buffer.from(privateJwk.d, 'base64url').toString('base64'),
  };
}

/** Builds ONION_CLIENT_AUTH_ADD (control-spec §3.30): lets this tor reach a service that requires client auth. */
export function formatOnionClientAuthAdd(
  address: string,
  privateKeyBase64: string,
  nickname?: string,
): string {
  const serviceId = toOnionServiceId(address);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(privateKeyBase64)) {
    throw invalid('an x25519 client private key must be 32 bytes in base64 (44 characters)');
  }
  const words = ['ONION_CLIENT_AUTH_ADD', serviceId, `x25519:${privateKeyBase64}`];
  if (nickname !== undefined) {
    if (!/^[A-Za-z0-9+\-_]{1,16}$/.test(nickname)) {
      throw invalid(`client nickname ${JSON.stringify(nickname)} must be 1-16 of A-Z a-z 0-9 + - _`);
    }
    words.push(`ClientName=${nickname}`);
  }
  return words.join(' ');
}

function invalid(message: string): TorControlError {
  return new TorControlError('TOR_CONTROL_INVALID_ARGUMENT', message);
}
