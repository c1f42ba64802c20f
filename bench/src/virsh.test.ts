import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { BenchDomains } from './bench-domains.js';
import { Virsh, VirshError } from './virsh.js';

describe('Virsh against the daemon serving test:///default', () => {
  let client: LibvirtClient;
  let domains: BenchDomains;
  const virsh = new Virsh('test+unix:///default');
  before(async () => {
    client = await LibvirtClient.connect('test:///default');
    domains = new BenchDomains(client);
    await domains.define(2);
  });
  after(async () => {
    virsh.stopAll();
    await domains.remove();
    await client.close();
  });

  it('sees the domains libvirt-ts defined, one process per command', async () => {
    assert.equal(await virsh.run(['domstate', domains.domains[0]!.name]), 'shut off\n');
  });

  it('runs a batch from stdin in one process', async () => {
    const output = await virsh.runBatch([
      `domstate ${domains.domains[0]!.name}`,
      `domstate ${domains.domains[1]!.name}`,
      'list --all --name',
    ]);
    const lines = output.split('\n');
    assert.equal(lines.filter((line) => line === 'shut off').length, 2);
    assert.ok(lines.includes(domains.domains[1]!.name));
  });

  it('fails with the message virsh wrote, in one process or in a batch', async () => {
    const noSuchDomain = (error: unknown) =>
      error instanceof VirshError &&
      error.code === 'BENCH_VIRSH_FAILED' &&
      /failed to get domain/.test(error.message);
    await assert.rejects(virsh.run(['domstate', `${domains.prefix}missing`]), noSuchDomain);
    await assert.rejects(virsh.runBatch([`domstate ${domains.prefix}missing`, 'list --all']), noSuchDomain);
  });

  it('kills a virsh that runs past its time limit', async () => {
    await assert.rejects(new Virsh('test+unix:///default', { timeoutMs: 1 }).run(['list']), {
      code: 'BENCH_VIRSH_FAILED',
      message: /killed after 1 ms/,
    });
  });

  it('stops every virsh still running when asked', async () => {
    const running = virsh.runBatch(['list --all']);
    virsh.stopAll();
    await assert.rejects(running, { code: 'BENCH_VIRSH_FAILED', message: /signal SIGKILL/ });
  });

  it('says so when virsh is not installed', async () => {
    await assert.rejects(new Virsh('test+unix:///default', { executable: 'no-such-virsh' }).run(['list']), {
      code: 'BENCH_VIRSH_NOT_FOUND',
    });
  });
});
