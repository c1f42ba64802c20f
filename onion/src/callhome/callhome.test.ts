import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import QRCode from 'qrcode';
import type { TorControlClient } from '../control/client.js';
import { isOnionServiceId } from '../control/onion-service.js';
import { reconnectDelay } from './callhome-config.js';
import { CallHome, type CallHomeOptions } from './callhome.js';
import { clientAuthQrPng } from './client-auth-qr.js';
import { MemoryOnionServiceKeyStore } from './memory-key-store.js';
import { createClientCredentials, formatClientAuthLine, type CallHomeClient } from './client-credentials.js';
import { CallHomeError, type CallHomeErrorCode } from './errors.js';
import { generateOnionServiceKey, onionServiceKeyFromSeed } from './service-key.js';

const zbarAvailable = spawnSync('zbarimg', ['--version']).status === 0;

/** These tests never reach tor: a connect that is called fails the test. */
const unreachableTor = (): Promise<TorControlClient> =>
  Promise.reject(new Error('this test must not connect to tor'));

const ports = [{ virtualPort: 22, target: { host: '127.0.0.1', port: 2222 } }];

const failsWith =
  (code: CallHomeErrorCode) =>
  (error: unknown): boolean =>
    error instanceof CallHomeError && error.code === code;

function callHome(overrides: Partial<CallHomeOptions> = {}): CallHome {
  return new CallHome({
    connect: unreachableTor,
    keyStore: new MemoryOnionServiceKeyStore(),
    ports,
    ...overrides,
  });
}

describe('onion service keys', () => {
  it('are made here: a valid v3 address and the 64-byte expanded key tor takes', () => {
    const key = generateOnionServiceKey();
    assert.ok(isOnionServiceId(key.serviceId));
    const expanded = Buffer.from(key.privateKey, 'base64');
    assert.equal(expanded.length, 64);
    // RFC 8032 clamping of the scalar half.
    assert.equal((expanded[0] as number) & 7, 0);
    assert.equal((expanded[31] as number) & 0xc0, 0x40);
    assert.notEqual(generateOnionServiceKey().serviceId, key.serviceId);
  });

  it('derive the address and the expanded key from a seed (RFC 8032 test 1, checked with Python hashlib)', () => {
    const key = onionServiceKeyFromSeed(
      Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'),
      Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'),
    );
    assert.deepEqual(key, {
      serviceId: '25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid',
      privateKey: 'MHyDhk8oM8tCei7xwAoBPP3/J2jZgMCjpSDwBpBN6U+bTwr+KAt0aneGhOdUQlAgV7dHOgPwj5b1o46Sh+Afjw==',
    });
  });
});

describe('client credentials', () => {
  it("make the auth line tor's ClientOnionAuthDir reads", () => {
    const { serviceId } = generateOnionServiceKey();
    const credentials = createClientCredentials('phone', serviceId);
    assert.equal(credentials.onionAddress, `${serviceId}.onion`);
    assert.match(credentials.publicKeyBase32, /^[A-Z2-7]{52}$/);
    assert.match(credentials.privateKeyBase32, /^[A-Z2-7]{52}$/);
    assert.equal(credentials.authLine, `${serviceId}:descriptor:x25519:${credentials.privateKeyBase32}`);
    assert.equal(formatClientAuthLine('a', 'B'), 'a:descriptor:x25519:B');
  });

  it(
    'fit a version 7 QR code that a reader (zbarimg) scans back to the auth line',
    { skip: zbarAvailable ? false : 'zbarimg missing: apt-get install zbar-tools' },
    async () => {
      const { authLine } = createClientCredentials('phone', generateOnionServiceKey().serviceId);
      assert.equal(QRCode.create(authLine, { errorCorrectionLevel: 'M' }).version, 7);
      const directory = mkdtempSync(join(tmpdir(), 'onion-callhome-qr-'));
      try {
        const file = join(directory, 'client.png');
        writeFileSync(file, await clientAuthQrPng(authLine));
        const scanned = execFileSync('zbarimg', ['--quiet', '--raw', file], { encoding: 'utf8' }).trim();
        assert.equal(scanned, authLine);
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
  );
});

describe('CallHome without tor', () => {
  it('validates its options', () => {
    const publicKeyBase32 = 'A'.repeat(52);
    for (const overrides of [
      { ports: [] },
      { ports: [{ virtualPort: 0, target: { host: '127.0.0.1', port: 22 } }] },
      { ports: [...ports, ...ports] },
      { ports: [{ virtualPort: 22, target: { unixPath: 'relative.sock' } }] },
      { clients: [{ name: 'bad name', publicKeyBase32 }] },
      { clients: [{ name: 'phone', publicKeyBase32: 'short' }] },
      {
        clients: [
          { name: 'a', publicKeyBase32 },
          { name: 'b', publicKeyBase32 },
        ],
      },
      { republishAfterMs: 5 },
    ]) {
      assert.throws(
        () => callHome(overrides),
        failsWith('CALLHOME_INVALID_OPTIONS'),
        JSON.stringify(overrides),
      );
    }
  });

  it('refuses to publish without a client unless allowWithoutClientAuth, before touching tor or the key', async () => {
    const keyStore = new MemoryOnionServiceKeyStore();
    await assert.rejects(callHome({ keyStore }).start(), failsWith('CALLHOME_NO_CLIENTS'));
    assert.deepEqual(keyStore.saved, []);
    // Allowed: it gets as far as connecting.
    await assert.rejects(callHome({ allowWithoutClientAuth: true }).start(), /must not connect to tor/);
  });

  it('adds clients before start: one key made and stored, the list handed to onClientsChanged', async () => {
    const keyStore = new MemoryOnionServiceKeyStore();
    const lists: Array<readonly CallHomeClient[]> = [];
    const home = callHome({ keyStore, onClientsChanged: (clients) => void lists.push(clients) });
    const phone = await home.addClient('phone');
    const laptop = await home.addClient('laptop');
    assert.equal(keyStore.saved.length, 1);
    assert.equal(phone.onionAddress, `${keyStore.saved[0]?.serviceId}.onion`);
    assert.equal(laptop.onionAddress, phone.onionAddress);
    assert.match(phone.qr.svg, /^<svg/);
    assert.ok(phone.qr.terminal.includes('█'));
    assert.deepEqual(
      lists.map((list) => list.map((client) => client.name)),
      [['phone'], ['phone', 'laptop']],
    );
    assert.equal(lists[1]?.[1]?.publicKeyBase32, laptop.publicKeyBase32);
    const status = home.status();
    assert.equal(status.state, 'stopped');
    assert.equal(status.clientAuth, true);
    assert.equal(status.onionAddress, phone.onionAddress);
    assert.equal(JSON.stringify(status).includes(phone.privateKeyBase32), false, 'no private key is kept');

    await assert.rejects(home.addClient('phone'), failsWith('CALLHOME_CLIENT_EXISTS'));
    await assert.rejects(home.addClient('no spaces'), failsWith('CALLHOME_INVALID_OPTIONS'));
    await assert.rejects(home.removeClient('tablet'), failsWith('CALLHOME_CLIENT_UNKNOWN'));
    await home.removeClient('phone');
    assert.deepEqual(
      home.status().clients.map((client) => client.name),
      ['laptop'],
    );
  });

  it('keeps the client list as it was when onClientsChanged rejects', async () => {
    const home = callHome({
      onClientsChanged: () => Promise.reject(new Error('the database is read-only')),
    });
    await assert.rejects(home.addClient('phone'), /read-only/);
    assert.deepEqual(home.status().clients, []);
  });

  it('reuses a stored key, and refuses a damaged one or a failing store', async () => {
    const stored = generateOnionServiceKey();
    const phone = await callHome({ keyStore: new MemoryOnionServiceKeyStore(stored) }).addClient('phone');
    assert.equal(phone.onionAddress, `${stored.serviceId}.onion`);

    const damaged = { ...stored, serviceId: stored.serviceId.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) };
    await assert.rejects(
      callHome({ keyStore: new MemoryOnionServiceKeyStore(damaged) }).addClient('phone'),
      failsWith('CALLHOME_INVALID_OPTIONS'),
    );
    const failing = {
      load: () => Promise.reject(new Error('vault sealed')),
      save: () => Promise.resolve(),
    };
    await assert.rejects(
      callHome({ keyStore: failing }).addClient('phone'),
      failsWith('CALLHOME_KEY_STORE_FAILED'),
    );
  });

  it('backs off reconnecting: doubling from the first delay up to the most', () => {
    const delays = { initial: 500, max: 30_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 7, 8, 20].map((attempt) => reconnectDelay(attempt, delays)),
      [500, 1_000, 2_000, 4_000, 30_000, 30_000, 30_000],
    );
  });
});
