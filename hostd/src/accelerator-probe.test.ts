import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { findHostKernel, probeAccelerator, probeGuestBoots } from './accelerator-probe.js';

describe('accelerator probe (qemu:///system)', () => {
  let client: LibvirtClient;
  let workDir: string;
  let kernel: string;

  before(async () => {
    client = await LibvirtClient.connect('qemu:///system');
    workDir = await mkdtemp(join(tmpdir(), 'mv-probe-'));
    const found = await findHostKernel();
    assert.ok(found, 'a kernel in /boot is needed (scripts/setup.sh installs linux-image-cloud-amd64)');
    kernel = found;
  });

  after(async () => {
    await client.close();
    await rm(workDir, { recursive: true, force: true });
  });

  async function leftoverProbeDomains(): Promise<string[]> {
    const domains = await client.listAllDomains();
    return domains.map((domain) => domain.name).filter((name) => name.startsWith('multiverse-accel-probe-'));
  }

  it('sees a TCG guest boot: the detection itself works on this machine', async () => {
    const result = await probeGuestBoots(client, 'qemu', kernel, { workDir, timeoutMs: 30_000 });
    assert.equal(result.booted, true, JSON.stringify(result));
    assert.deepEqual(await leftoverProbeDomains(), []);
    assert.deepEqual(await readdir(workDir), []);
  });

  it('decides KVM only when a KVM guest really ran, and explains the decision', async () => {
    const kvmRuns = await probeGuestBoots(client, 'kvm', kernel, { workDir, timeoutMs: 8000 });
    const decision = await probeAccelerator(client, { workDir, kernelPath: kernel });
    assert.equal(decision.accelerator, kvmRuns.booted ? 'kvm' : 'tcg');
    assert.match(
      decision.reason,
      kvmRuns.booted ? /KVM guest printed its kernel banner/ : /KVM guest (started|could not)/,
    );
    assert.deepEqual(await leftoverProbeDomains(), []);
  });

  it('falls back to TCG with the reason when the probe guest cannot start', async () => {
    const decision = await probeAccelerator(client, { workDir, kernelPath: join(workDir, 'no-such-kernel') });
    assert.equal(decision.accelerator, 'tcg');
    assert.match(decision.reason, /could not be started/);
  });
});
