import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../log.js';
import { ServiceError } from '../service/service-error.js';
import { NoTor } from './host-tor.js';
import { HostOnionVmLinks, tapNameOf } from './host-onion-vm-links.js';

// What the VM links do without a tor to carry them (the end-to-end path is onion-vm.test.ts): names, refusals
// that leave nothing behind, and the record of links a restarted hostd reads.

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

describe('onion VM links without tor', () => {
  let stateDir: string;
  const logged: string[] = [];
  const logger = createLogger('test', {
    minLevel: 'warn',
    write: (line: string) => logged.push(line),
  });

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'hostd-vm-links-'));
  });

  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('names each VM’s TAP device from its name: mvo + 11 hex digits, at most 14 bytes', () => {
    const names = ['a', 'mvtest-onion-1', 'mvtest-onion-2', 'x'.repeat(32)].map(tapNameOf);
    for (const name of names) assert.match(name, /^mvo[0-9a-f]{11}$/);
    assert.equal(new Set(names).size, names.length);
    assert.equal(tapNameOf('mvtest-onion-1'), names[1]);
  });

  it('refuses to make a link with MULTIVERSE_TOR=off (TOR_OFF) and leaves no device or record', async () => {
    const links = new HostOnionVmLinks({ stateDir, tor: new NoTor(), logger });
    await links.open();
    await assert.rejects(
      links.up('mvtest-no-tor'),
      (error: unknown) => error instanceof ServiceError && error.code === 'TOR_OFF',
    );
    assert.equal(await exists(`/sys/class/net/${tapNameOf('mvtest-no-tor')}`), false);
    assert.equal(await exists(join(stateDir, 'onion-vm-links.json')), false);
    assert.equal(await links.status('mvtest-no-tor'), null);
    await links.down('mvtest-no-tor');
  });

  it('forgets recorded links whose device is gone (a reboot), and reports a damaged record', async () => {
    const record = join(stateDir, 'onion-vm-links.json');
    await writeFile(
      record,
      JSON.stringify({
        version: 1,
        links: [{ vm: 'mvtest-gone', tap: tapNameOf('mvtest-gone'), subnet: '10.154.200.0/30' }],
      }),
    );
    const links = new HostOnionVmLinks({ stateDir, tor: new NoTor(), logger });
    await links.open();
    assert.deepEqual(JSON.parse(await readFile(record, 'utf8')), { version: 1, links: [] });
    assert.deepEqual(await links.deviceListeners(), []);

    await writeFile(record, '{"version": 1, "links": [{"vm": 3}]}');
    await new HostOnionVmLinks({ stateDir, tor: new NoTor(), logger }).open();
    assert.ok(
      logged.some((line) => line.includes('onion-vm-links.json is damaged')),
      logged.join('\n'),
    );
  });
});
