import { randomBytes } from 'node:crypto';

// The "openssh-key-v1" container (OpenSSH's PROTOCOL.key), unencrypted, holding one Ed25519 key.
// ssh2 and ssh-keygen both read it; node:crypto cannot write it, hence this encoder.

function sshString(payload: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(payload.length);
  return Buffer.concat([length, payload]);
}

function sshUint32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

/** The SSH wire encoding of an Ed25519 public key (`string "ssh-ed25519" || string key`). */
export function ed25519PublicKeyBlob(publicKey: Buffer): Buffer {
  return Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(publicKey)]);
}

/** Encodes a raw Ed25519 key pair (32-byte seed, 32-byte public key) as an OpenSSH PEM private key. */
export function encodeOpenSshEd25519PrivateKey(seed: Buffer, publicKey: Buffer, comment: string): string {
  if (seed.length !== 32 || publicKey.length !== 32) {
    throw new RangeError('An Ed25519 seed and public key are 32 bytes each');
  }
  const checkInt = randomBytes(4).readUInt32BE();
  const unpadded = Buffer.concat([
    sshUint32(checkInt),
    sshUint32(checkInt),
    sshString(Buffer.from('ssh-ed25519')),
    sshString(publicKey),
    sshString(Buffer.concat([seed, publicKey])),
    sshString(Buffer.from(comment, 'utf8')),
  ]);
  const blockSize = 8;
  const paddingLength = (blockSize - (unpadded.length % blockSize)) % blockSize;
  const padding = Buffer.from(Array.from({ length: paddingLength }, (_, index) => index + 1));
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString(Buffer.from('none')),
    sshString(Buffer.from('none')),
    sshString(Buffer.alloc(0)),
    sshUint32(1),
    sshString(ed25519PublicKeyBlob(publicKey)),
    sshString(Buffer.concat([unpadded, padding])),
  ]);
  const base64Lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return [
    '-----BEGIN OPENSSH PRIVATE KEY-----',
    ...base64Lines,
    '-----END OPENSSH PRIVATE KEY-----',
    '',
  ].join('\n');
}
