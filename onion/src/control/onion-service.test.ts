import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import fc from 'fast-check';
import { decodeBase32, encodeBase32 } from './base32.js';
import { TorControlError } from './errors.js';
import {
  formatAddOnion,
  formatOnionClientAuthAdd,
  generateOnionClientAuthKeyPair,
  isOnionServiceId,
  parseAddOnionReply,
  toOnionServiceId,
} from './onion-service.js';

/** The Tor Project's own v3 address, a real one with a valid checksum. */
const TORPROJECT = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid';
const KEY_BLOB = `${'A'.repeat(86)}==`;
const CLIENT_KEY = 'N2NU7BSRL6YODZCYPN4CREB54TYLKGIE2KYOQWLFYC23ZJVCE5DQ';

const isInvalidArgument = (error: unknown): boolean =>
  error instanceof TorControlError && error.code === 'TOR_CONTROL_INVALID_ARGUMENT';

describe('onion addresses', () => {
  it('accepts a real v3 address and rejects a one-character change', () => {
    assert.equal(isOnionServiceId(TORPROJECT), true);
    assert.equal(isOnionServiceId(`${TORPROJECT.slice(0, 10)}a${TORPROJECT.slice(11)}`), false);
    assert.equal(isOnionServiceId(TORPROJECT.toUpperCase()), false);
    assert.equal(isOnionServiceId('expyuzz4wqqyqhjn'), false);
  });

  it('normalises "xyz.onion" and rejects invalid addresses with a clear error', () => {
    assert.equal(toOnionServiceId(`${TORPROJECT.toUpperCase()}.onion`), TORPROJECT);
    assert.throws(() => toOnionServiceId('example.com'), isInvalidArgument);
  });
});

describe('formatAddOnion', () => {
  it('formats a new service with port mappings', () => {
    assert.equal(
      formatAddOnion({
        key: { type: 'new' },
        ports: [{ virtualPort: 80, target: { host: '127.0.0.1', port: 8080 } }, { virtualPort: 22 }],
        flags: ['Detach'],
        maxStreams: 10,
      }),
      'ADD_ONION NEW:ED25519-V3 Flags=Detach MaxStreams=10 Port=80,127.0.0.1:8080 Port=22',
    );
  });

  it('adds V3Auth and the client keys when client authorization is requested', () => {
    assert.equal(
      formatAddOnion({
        key: { type: 'ed25519-v3', privateKey: KEY_BLOB },
        ports: [{ virtualPort: 22, target: { unixPath: '/run/jail.sock' } }],
        clientAuthV3: [CLIENT_KEY.toLowerCase()],
      }),
      `ADD_ONION ED25519-V3:${KEY_BLOB} Flags=V3Auth Port=22,unix:/run/jail.sock ClientAuthV3=${CLIENT_KEY}`,
    );
  });

  it('brackets IPv6 targets', () => {
    assert.match(
      formatAddOnion({ key: { type: 'new' }, ports: [{ virtualPort: 1, target: { host: '::1', port: 2 } }] }),
      /Port=1,\[::1\]:2$/,
    );
  });

  it('rejects arguments that would be invalid or inject words', () => {
    const cases = [
      { key: { type: 'new' as const }, ports: [] },
      { key: { type: 'new' as const }, ports: [{ virtualPort: 0 }] },
      { key: { type: 'new' as const }, ports: [{ virtualPort: 80, target: { host: 'a b', port: 1 } }] },
      { key: { type: 'new' as const }, ports: [{ virtualPort: 80, target: { unixPath: '/x y' } }] },
      { key: { type: 'ed25519-v3' as const, privateKey: 'short' }, ports: [{ virtualPort: 80 }] },
      { key: { type: 'new' as const }, ports: [{ virtualPort: 80 }], clientAuthV3: ['not a key'] },
      { key: { type: 'new' as const }, ports: [{ virtualPort: 80 }], maxStreams: 70000 },
    ];
    for (const request of cases) assert.throws(() => formatAddOnion(request), isInvalidArgument);
  });
});

describe('parseAddOnionReply', () => {
  it('reads the service id and key', () => {
    const result = parseAddOnionReply({
      status: 250,
      lines: [
        { status: 250, kind: 'mid', text: `ServiceID=${TORPROJECT}` },
        { status: 250, kind: 'mid', text: `PrivateKey=ED25519-V3:${KEY_BLOB}` },
        { status: 250, kind: 'end', text: 'OK' },
      ],
    });
    assert.deepEqual(result, {
      serviceId: TORPROJECT,
      onionAddress: `${TORPROJECT}.onion`,
      privateKey: KEY_BLOB,
    });
  });

  it('refuses a reply without a valid service id', () => {
    assert.throws(
      () => parseAddOnionReply({ status: 250, lines: [{ status: 250, kind: 'end', text: 'OK' }] }),
      (error: unknown) => error instanceof TorControlError && error.code === 'TOR_CONTROL_UNEXPECTED_REPLY',
    );
  });
});

describe('client authorization keys', () => {
  it('generates an x25519 pair whose halves belong together', () => {
    const pair = generateOnionClientAuthKeyPair();
    assert.match(pair.publicKeyBase32, /^[A-Z2-7]{52}$/);
    assert.match(pair.privateKeyBase64, /^[A-Za-z0-9+/]{43}=$/);
    // The same shared secret from both directions proves the public key is the private key's.
    const privateKey = createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'X25519',
        d: Buffer.from(pair.privateKeyBase64, 'base64').toString('base64url'),
        x: decodeBase32(pair.publicKeyBase32).toString('base64url'),
      },
      format: 'jwk',
    });
    const other = generateOnionClientAuthKeyPair();
    const otherPrivate = createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'X25519',
        d: Buffer.from(other.privateKeyBase64, 'base64').toString('base64url'),
        x: decodeBase32(other.publicKeyBase32).toString('base64url'),
      },
      format: 'jwk',
    });
    const publicOf = (base32: string) =>
      createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: decodeBase32(base32).toString('base64url') },
        format: 'jwk',
      });
    assert.deepEqual(
      diffieHellman({ privateKey, publicKey: publicOf(other.publicKeyBase32) }),
      diffieHellman({ privateKey: otherPrivate, publicKey: publicOf(pair.publicKeyBase32) }),
    );
  });

  it('formats ONION_CLIENT_AUTH_ADD and validates its inputs', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    assert.equal(
      formatOnionClientAuthAdd(`${TORPROJECT}.onion`, key, 'phone-1'),
      `ONION_CLIENT_AUTH_ADD ${TORPROJECT} x25519:${key} ClientName=phone-1`,
    );
    assert.throws(() => formatOnionClientAuthAdd(TORPROJECT, 'short'), isInvalidArgument);
    assert.throws(() => formatOnionClientAuthAdd(TORPROJECT, key, 'has space'), isInvalidArgument);
  });
});

describe('base32', () => {
  it('matches RFC 4648 test vectors (without padding)', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of vectors) {
      assert.equal(encodeBase32(Buffer.from(plain)), encoded);
      assert.equal(
        decodeBase32(`${encoded}======`.slice(0, Math.ceil(encoded.length / 8) * 8)).toString(),
        plain,
      );
    }
  });

  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        assert.deepEqual(decodeBase32(encodeBase32(bytes)), Buffer.from(bytes));
      }),
    );
  });

  it('rejects characters outside the alphabet', () => {
    assert.throws(() => decodeBase32('MZ1W'), RangeError);
  });
});
