// libvirtd restarted under a running hostd: hostd reconnects and registers for events again, so a guest that
// powers itself off afterwards still gets its volatile volume discarded. Restarts the system libvirtd: the
// running guest survives it (QEMU is not libvirtd's child).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { HostInfo } from '../service/index.js';
import { HostdProcess, eventually } from '../testing/hostd-process.js';
import { fileGone, removeDomains } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';

const run = promisify(execFile);
const startLibvirt = new URL('../../../scripts/start-libvirt.sh', import.meta.url).pathname;
const LIBVIRTD_PID_FILE = '/run/libvirtd.pid';

async function restartLibvirtd(): Promise<void> {
  const pid = Number((await readFile(LIBVIRTD_PID_FILE, 'utf8')).trim());
  assert.ok(Number.isInteger(pid) && pid > 1, `libvirtd's pid file holds ${pid}`);
  process.kill(pid, 'SIGTERM');
  await eventually('libvirtd to exit', () => {
    try {
      process.kill(pid, 0);
      return Promise.resolve(undefined);
    } catch {
      return Promise.resolve(true);
    }
  });
  await run('bash', [startLibvirt]);
}

describe('hostd across a libvirtd restart (TCG)', { timeout: 300_000 }, () => {
  let root: string;
  let hostd: HostdProcess;
  const name = 'mvtest-restart';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-libvirtd-restart-'));
    await chmod(root, 0o711);
    const templatesDir = await prepareTemplates(root, [{ name: 'scratch', volatileSize: '16MiB' }]);
    hostd = new HostdProcess({
      root,
      env: { MULTIVERSE_TEMPLATES_DIR: templatesDir, MULTIVERSE_DISPOSABLE_POOL: 'none' },
    });
    await hostd.start();
  });

  after(async () => {
    await hostd.stop();
    const client = await LibvirtClient.connect('qemu:///system');
    await removeDomains(client, [name]);
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('reconnects, and still hears a guest power itself off', async () => {
    await hostd.mvctlJson(['vm', 'create', name, '--template', 'scratch']);
    const start = await hostd.mvctl(['vm', 'start', name]);
    assert.equal(start.code, 0, `${start.stderr}\n${hostd.log}`);
    const volatile = join(hostd.stateDir, 'vms', name, 'run', 'volatile.qcow2');
    assert.ok((await stat(volatile)).isFile());

    await restartLibvirtd();
    await eventually('hostd reconnected', async () => {
      const info = await hostd.mvctl(['host', 'info', '--json']);
      return info.code === 0 && (JSON.parse(info.stdout) as HostInfo).libvirt.connected ? true : undefined;
    });
    assert.match(hostd.log, /lost the connection to libvirtd; reconnecting/);

    const client = await LibvirtClient.connect('qemu:///system');
    try {
      const domain = await client.domainLookupByName(name);
      assert.equal(await client.domainIsActive(domain), true, 'the guest outlived the libvirtd restart');
      const console = await client.domainOpenConsole(domain);
      console.write('poweroff -f\n');
      await eventually('the volatile volume removed after the guest powered off', () => fileGone(volatile));
      console.destroy();
    } finally {
      await client.close();
    }
  });
});
