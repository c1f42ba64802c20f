// The Debian guest's configure-ipv4 script, run by the host's dash as the guest runs it, in a mount and network
// namespace of its own: the test's command line bind-mounted over /proc/cmdline, files of the test's over
// /etc/resolv.conf and /dev/ttyS0, a tmpfs over /run, and the namespace's own IPv6 settings. Only systemctl is
// a stand-in (this machine runs no systemd): it notes how it was called.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEBIAN_IPV4_NETWORK_FILE, debianGuestEntries } from './debian-guest-files.js';

const run = promisify(execFile);

interface Outcome {
  readonly networkFile: string | null;
  readonly resolvConf: string;
  readonly serial: string;
  readonly systemctl: string;
  readonly ipv6Disabled: { readonly all: string; readonly default: string };
}

describe('the Debian guest configures its link from multiverse.ipv4=', { timeout: 60_000 }, () => {
  let directory: string;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'mvtpl-configure-ipv4-'));
    const script = debianGuestEntries(
      'http://deb.debian.org/debian',
      'http://deb.debian.org/debian-security',
      'bookworm',
    ).find((entry) => entry.path === 'usr/lib/multiverse/configure-ipv4');
    assert.ok(script?.kind === 'file', 'the image ships configure-ipv4');
    await writeFile(join(directory, 'configure-ipv4'), script.contents, { mode: 0o755 });
    await run('mkdir', ['-p', join(directory, 'bin')]);
    await writeFile(
      join(directory, 'bin', 'systemctl'),
      `#!/bin/sh\necho "$*" >> ${join(directory, 'systemctl.log')}\n`,
      { mode: 0o755 },
    );
  });

  after(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function boot(commandLine: string): Promise<Outcome> {
    for (const file of ['resolv.conf', 'serial', 'systemctl.log', 'network', 'ipv6-all', 'ipv6-default']) {
      await writeFile(join(directory, file), '');
    }
    await writeFile(join(directory, 'cmdline'), `${commandLine}\n`);
    await run('unshare', [
      '--mount',
      '--net',
      'sh',
      '-ec',
      `d="$1"
mount --bind "$d/cmdline" /proc/cmdline
mount --bind "$d/resolv.conf" /etc/resolv.conf
mount --bind "$d/serial" /dev/ttyS0
mount -t tmpfs tmpfs /run
PATH="$d/bin:$PATH" dash "$d/configure-ipv4"
cat /proc/sys/net/ipv6/conf/all/disable_ipv6 > "$d/ipv6-all"
cat /proc/sys/net/ipv6/conf/default/disable_ipv6 > "$d/ipv6-default"
if [ -e ${DEBIAN_IPV4_NETWORK_FILE} ]; then cat ${DEBIAN_IPV4_NETWORK_FILE} > "$d/network"; else rm "$d/network"; fi`,
      'sh',
      directory,
    ]);
    const read = (file: string) => readFile(join(directory, file), 'utf8');
    return {
      networkFile: await read('network').catch(() => null),
      resolvConf: await read('resolv.conf'),
      serial: await read('serial'),
      systemctl: await read('systemctl.log'),
      ipv6Disabled: { all: (await read('ipv6-all')).trim(), default: (await read('ipv6-default')).trim() },
    };
  }

  it('turns IPv6 off, hands the address and route to systemd-networkd with every dynamic protocol off, and names the nameserver', async () => {
    const outcome = await boot(
      'root=/dev/vda ro console=ttyS0 quiet multiverse.hostname=work multiverse.ipv4=10.154.7.2/30,10.154.7.1',
    );
    assert.deepEqual(outcome.ipv6Disabled, { all: '1', default: '1' });
    assert.equal(
      outcome.networkFile,
      [
        '# Multiverse: from multiverse.ipv4= on the kernel command line. The VM has one NIC.',
        '[Match]',
        'Type=ether',
        '',
        '[Network]',
        'Address=10.154.7.2/30',
        'Gateway=10.154.7.1',
        'DHCP=no',
        'LinkLocalAddressing=no',
        'IPv6AcceptRA=no',
        'LLMNR=no',
        'MulticastDNS=no',
        'LLDP=no',
        'EmitLLDP=no',
        '',
      ].join('\n'),
    );
    assert.equal(outcome.resolvConf, 'nameserver 10.154.7.1\n');
    assert.equal(outcome.systemctl, 'start --no-block systemd-networkd.service\n');
    assert.equal(outcome.serial, '');
  });

  it('does nothing at all without the parameter', async () => {
    const outcome = await boot('root=/dev/vda ro console=ttyS0 quiet');
    assert.deepEqual(outcome, {
      networkFile: null,
      resolvConf: '',
      serial: '',
      systemctl: '',
      ipv6Disabled: { all: '0', default: '0' },
    });
  });

  for (const value of [
    '10.154.7.2/30,10.154.7.1;reboot',
    '10.154.7.2/30',
    '10.154.7.2/30,10.154.7.1,10.0.0.1',
    '256.154.7.2/30,10.154.7.1',
    '10.154.7/30,10.154.7.1',
    '10..7.2/30,10.154.7.1',
    '10.154.7.2/31,10.154.7.1',
    '10.154.7.2/0,10.154.7.1',
    '10.154.7.2/30,10.154.7.1.9',
    '0010.154.7.2/30,10.154.7.1',
  ]) {
    it(`ignores ${value} and says so on ttyS0, configuring nothing`, async () => {
      const outcome = await boot(`console=ttyS0 multiverse.ipv4=${value}`);
      assert.equal(outcome.serial, `multiverse: ignoring malformed multiverse.ipv4=${value}\n`);
      assert.deepEqual(
        [outcome.networkFile, outcome.resolvConf, outcome.systemctl, outcome.ipv6Disabled.all],
        [null, '', '', '0'],
      );
    });
  }
});
