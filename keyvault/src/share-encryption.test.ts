import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { formatShareText, parseShareText } from './share-codec.js';
import { decryptShare, encryptShare, generateCustodianKeyPair } from './share-encryption.js';
import type { EncryptedShare, PlainShare } from './share.js';

function plainShare(): PlainShare {
  const point = randomBytes(33);
  point[32] = 200;
  return {
    vaultId: randomBytes(10),
    shareSet: 1,
    index: 4,
    shareCount: 5,
    threshold: 3,
    encrypted: false,
    point,
  };
}

describe('share encryption to a custodian key', () => {
  it('seals a share so only the custodian private key opens it, also after printing', () => {
    const custodian = generateCustodianKeyPair();
    const share = plainShare();
    const sealed = encryptShare(share, custodian.publicKey);
    assert.equal(sealed.encrypted, true);
    assert.ok(
      !Buffer.concat([sealed.ephemeralPublicKey, sealed.sealedPoint]).includes(share.point.subarray(0, 8)),
    );

    const printed = parseShareText(formatShareText(sealed)) as EncryptedShare;
    const opened = decryptShare(printed, custodian.privateKey);
    assert.deepEqual(opened, share);
  });

  it('uses a fresh ephemeral key per share', () => {
    const custodian = generateCustodianKeyPair();
    const share = plainShare();
    const a = encryptShare(share, custodian.publicKey);
    const b = encryptShare(share, custodian.publicKey);
    assert.ok(!a.ephemeralPublicKey.equals(b.ephemeralPublicKey));
    assert.ok(!a.sealedPoint.equals(b.sealedPoint));
  });

  it('refuses another custodian key and a share whose label was changed', () => {
    const alice = generateCustodianKeyPair();
    const bob = generateCustodianKeyPair();
    const sealed = encryptShare(plainShare(), alice.publicKey);
    assert.throws(() => decryptShare(sealed, bob.privateKey), {
      code: 'SHARE_DECRYPT_FAILED',
      shareIndex: 4,
    });
    assert.throws(() => decryptShare({ ...sealed, index: 5 }, alice.privateKey), {
      code: 'SHARE_DECRYPT_FAILED',
    });
    const flipped = Buffer.from(sealed.sealedPoint);
    flipped[0]! ^= 1;
    assert.throws(() => decryptShare({ ...sealed, sealedPoint: flipped }, alice.privateKey), {
      code: 'SHARE_DECRYPT_FAILED',
    });
  });

  it('accepts raw 32-byte keys as node:crypto exports them', () => {
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    const rawPublic = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const rawPrivate = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
    const share = plainShare();
    assert.deepEqual(decryptShare(encryptShare(share, rawPublic), rawPrivate), share);
  });

  it('refuses a mistyped custodian key instead of sealing to a key nobody holds', () => {
    const { publicKey } = generateCustodianKeyPair();
    const last = publicKey.at(-1) === '0' ? '1' : '0';
    const typo = publicKey.slice(0, -1) + last;
    assert.throws(() => encryptShare(plainShare(), typo), { code: 'INVALID_ARGUMENT', message: /typo/ });
    assert.throws(() => encryptShare(plainShare(), 'MVSECRET-' + publicKey.slice(6)), {
      code: 'INVALID_ARGUMENT',
      message: /Not a custodian public key/,
    });
    assert.throws(() => encryptShare(plainShare(), new Uint8Array(31)), { code: 'INVALID_ARGUMENT' });
  });

  it('refuses a low-order public key whose shared secret is all zeros', () => {
    assert.throws(() => encryptShare(plainShare(), new Uint8Array(32)), {
      code: 'INVALID_ARGUMENT',
      message: /low-order/,
    });
  });

  it('reads keys with lower case and spaces, as typed from paper', () => {
    const custodian = generateCustodianKeyPair();
    const typedPublic = custodian.publicKey.toLowerCase().replace(/(.{8})/g, '$1 ');
    const share = plainShare();
    assert.deepEqual(decryptShare(encryptShare(share, typedPublic), custodian.privateKey), share);
  });
});
