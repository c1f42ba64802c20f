// A VM that does not come up gets the fallback VM booted with its disks attached read-only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { HostdProcess } from '../testing/hostd-process.js';
import { removeDomains } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';
import type { VmInfo } from './index.js';
import { fallbackNameOf } from './vm-engine.js';

describe('fallback VM after a failed start (TCG)', { timeout: 300_000 }, () => {
  let root: string;
  let hostd: HostdProcess;
  let client: LibvirtClient;
  const name = 'mvtest-failing';
  const fallback = fallbackNameOf(name);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-fallback-'));
    await chmod(root, 0o711);
    const templatesDir = await prepareTemplates(root, [
      { name: 'impatient', privateSize: '16MiB', readyTimeout: '4s' },
    ]);
    client = await LibvirtClient.connect('qemu:///system');
    hostd = new HostdProcess({
      root,
      env: { MULTIVERSE_TEMPLATES_DIR: templatesDir, MULTIVERSE_DISPOSABLE_POOL: 'none' },
    });
    await hostd.start();
  });

  after(async () => {
    await hostd.stop();
    await removeDomains(client, [fallback, name]);
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('boots the fallback VM with the failed VM’s disks read-only, and says why', async () => {
    await hostd.mvctlJson(['vm', 'create', name, '--template', 'impatient']);
    const started = hostd.mvctl(['vm', 'start', name]);
    // A guest frozen right after it starts never reports ready: the same to hostd as a hung boot.
    const domain = await client.domainLookupByName(name);
    for (;;) {
      const state = await client.domainGetState(domain);
      if (state.stateName === 'running') break;
      await sleep(10);
    }
    await client.domainSuspend(domain);
    const start = await started;
    assert.equal(start.code, 1, start.stdout);
    assert.match(start.stdout + start.stderr, new RegExp(`VM_NOT_READY`));
    assert.match(start.stdout + start.stderr, new RegExp(`fallback VM ${fallback}`));
    assert.equal((await client.domainIsActive(domain)) ? 'running' : 'stopped', 'stopped');

    const info = await hostd.mvctlJson<VmInfo>(['vm', 'info', fallback]);
    assert.equal(info.state, 'running');
    assert.equal(info.role, 'fallback');
    assert.match(
      info.description,
      new RegExp(`^Fallback for ${name}, booted .*: VM ${name} did not report ready`),
    );
    const failedInfo = await hostd.mvctlJson<VmInfo>(['vm', 'info', name]);
    const xml = await client.domainGetXmlDesc(await client.domainLookupByName(fallback));
    assert.ok(failedInfo.disks.private !== null);
    const disk = new RegExp(`<source file='${failedInfo.disks.private}'[^]*?<readonly/>`);
    assert.match(xml, disk);

    // Restarting the fallback keeps what it inspects and why.
    await hostd.mvctlJson(['vm', 'kill', fallback]);
    const restart = await hostd.mvctl(['vm', 'start', fallback]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(await client.domainGetXmlDesc(await client.domainLookupByName(fallback)), disk);
    assert.equal((await hostd.mvctlJson<VmInfo>(['vm', 'info', fallback])).description, info.description);
  });

  it('attaches the fallback’s console through mvctl: bytes both ways, Ctrl-] detaches', async () => {
    const attached = hostd.spawnMvctl(['vm', 'console', fallback]);
    let output = '';
    attached.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    attached.stdin?.write('\necho $((6*7))x\n');
    for (let waited = 0; !output.includes('42x'); waited += 50) {
      assert.ok(waited < 30_000, `no answer on the console: ${JSON.stringify(output)}`);
      await sleep(50);
    }
    attached.stdin?.write(Buffer.from([0x1d]));
    const [code] = (await once(attached, 'exit')) as [number];
    assert.equal(code, 0);
    // The console is free again: a second attach works without --force.
    const again = hostd.spawnMvctl(['vm', 'console', fallback]);
    let stderr = '';
    again.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    again.stdin?.end();
    assert.equal(((await once(again, 'exit')) as [number])[0], 0);
    assert.match(stderr, /attached to .*detached/s);
    // A VM that is not running has no console.
    await hostd.mvctlJson(['vm', 'kill', fallback]);
    const stopped = await hostd.mvctl(['vm', 'console', fallback]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /VM_NOT_RUNNING/);
  });
});
