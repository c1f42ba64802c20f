import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateOnionServiceKey } from '@multiverse/onion';
import { ServiceError } from '../service/service-error.js';
import { CallHomeStore } from './callhome-store.js';

async function withStateDir(body: (stateDir: string) => Promise<void>): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'hostd-callhome-store-'));
  try {
    await body(stateDir);
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

describe('call-home’s state files', () => {
  it('keep the service key and the settings in a 0700 directory, files 0600, and read them back', () =>
    withStateDir(async (stateDir) => {
      const store = new CallHomeStore(stateDir);
      assert.equal(await store.load(), undefined);
      assert.deepEqual(await store.readSettings(), {
        version: 1,
        enabled: false,
        allowWithoutClientAuth: false,
        clients: [],
      });
      const key = generateOnionServiceKey();
      await store.save(key);
      const settings = {
        version: 1 as const,
        enabled: true,
        allowWithoutClientAuth: false,
        clients: [{ name: 'phone', publicKeyBase32: 'A'.repeat(52), addedAt: new Date().toISOString() }],
      };
      await store.writeSettings(settings);
      assert.deepEqual(await store.load(), key);
      assert.deepEqual(await store.readSettings(), settings);
      assert.equal((await stat(store.directory)).mode & 0o777, 0o700);
      for (const file of ['service-key.json', 'callhome.json']) {
        assert.equal((await stat(join(store.directory, file))).mode & 0o777, 0o600, file);
      }
      // A directory loosened by hand is tightened again.
      await chmod(store.directory, 0o755);
      await store.prepare();
      assert.equal((await stat(store.directory)).mode & 0o777, 0o700);
    }));

  it('report a damaged file as CALLHOME_STATE_DAMAGED, naming the file and field', () =>
    withStateDir(async (stateDir) => {
      const store = new CallHomeStore(stateDir);
      await store.prepare();
      await writeFile(join(store.directory, 'service-key.json'), '{"serviceId":"short","privateKey":"x"}');
      await assert.rejects(store.load(), (error: unknown) => {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'CALLHOME_STATE_DAMAGED');
        assert.match(error.message, /service-key\.json: serviceId/);
        return true;
      });
      await writeFile(join(store.directory, 'callhome.json'), 'not json');
      await assert.rejects(store.readSettings(), /callhome\.json is not JSON/);
      const key = generateOnionServiceKey();
      // Saving a new key over a damaged file repairs it.
      await store.save(key);
      assert.deepEqual(await store.load(), key);
      assert.match(
        await readFile(join(store.directory, 'service-key.json'), 'utf8'),
        new RegExp(key.serviceId),
      );
    }));
});
