import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceError } from '../service/service-error.js';
import { buildHostdTorrc, checkTorrcExtraLines, readTorrcExtra } from './hostd-torrc.js';
import { ownTorPaths } from './own-tor.js';

const paths = ownTorPaths('/var/lib/multiverse', '/run/multiverse');
const lines = (text: string): string[] => text.trimEnd().split('\n');

describe('the torrc of hostd’s own tor', () => {
  it('keeps data in the state directory, the control socket in the run directory, SOCKS on loopback', () => {
    const torrc = lines(
      buildHostdTorrc({
        paths,
        owningProcessId: 4242,
        user: 'debian-tor',
        deviceListeners: [],
        extraLines: [],
        extraSource: null,
      }),
    );
    assert.deepEqual(torrc.slice(1), [
      'DataDirectory /var/lib/multiverse/tor',
      'ControlSocket unix:/run/multiverse/tor/control.sock',
      'CookieAuthentication 1',
      'SocksPort 127.0.0.1:auto',
      'RunAsDaemon 0',
      'Log notice stdout',
      '__OwningControllerProcess 4242',
      'User debian-tor',
    ]);
    assert.match(torrc[0] ?? '', /^# Written by hostd/);
  });

  it('opens the listeners of devices that are up again, and appends the extra lines last', () => {
    const torrc = lines(
      buildHostdTorrc({
        paths,
        owningProcessId: 1,
        user: undefined,
        deviceListeners: [{ hostAddress: '10.153.0.1', transPort: 40001, dnsPort: 40002 }],
        extraLines: ['Bridge obfs4 192.0.2.1:443 FINGERPRINT', 'UseBridges 1'],
        extraSource: '/etc/multiverse/torrc-extra',
      }),
    );
    assert.ok(!torrc.some((line) => line.startsWith('User ')), 'no User line: tor stays as it was started');
    for (const line of [
      'AutomapHostsOnResolve 1',
      'VirtualAddrNetworkIPv4 10.192.0.0/10',
      'TransPort 10.153.0.1:40001',
      'DNSPort 10.153.0.1:40002',
    ]) {
      assert.ok(torrc.includes(line), line);
    }
    assert.deepEqual(torrc.slice(-3), [
      '# from MULTIVERSE_TORRC_EXTRA (/etc/multiverse/torrc-extra)',
      'Bridge obfs4 192.0.2.1:443 FINGERPRINT',
      'UseBridges 1',
    ]);
  });
});

describe('MULTIVERSE_TORRC_EXTRA', () => {
  it('keeps option lines, drops blank lines and comments', () => {
    assert.deepEqual(checkTorrcExtraLines('# bridges\n\nUseBridges 1\r\n  Bridge 192.0.2.1:443  \n', 'x'), [
      'UseBridges 1',
      'Bridge 192.0.2.1:443',
    ]);
  });

  it('refuses options hostd sets, includes, control characters and lines that are no option', () => {
    const refused = (text: string): string => {
      try {
        checkTorrcExtraLines(text, '/x');
      } catch (error) {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'TORRC_EXTRA_INVALID');
        return error.message;
      }
      assert.fail(`${JSON.stringify(text)} was accepted`);
    };
    assert.match(refused('UseBridges 1\ndatadirectory /tmp/x\n'), /line 2 sets datadirectory/);
    assert.match(refused('ControlPort 9051'), /line 1 sets ControlPort/);
    assert.match(refused('User root'), /sets User/);
    assert.match(refused('HashedControlPassword 16:AB'), /sets HashedControlPassword/);
    assert.match(refused('%include /etc/tor/torrc.d'), /sets %include/);
    assert.match(refused('__OwningControllerProcess 1'), /sets __OwningControllerProcess/);
    assert.match(refused('SocksPort 9050\u0007'), /control character/);
    assert.match(refused('= 1'), /does not start with a tor option/);
  });

  it('names the file when it cannot be read or is too large', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'hostd-torrc-extra-'));
    try {
      await assert.rejects(readTorrcExtra(join(directory, 'absent')), /absent: it cannot be read \(ENOENT\)/);
      const large = join(directory, 'large');
      await writeFile(large, `# ${'x'.repeat(70 * 1024)}\n`);
      await assert.rejects(readTorrcExtra(large), /larger than 65536 bytes/);
      const fine = join(directory, 'fine');
      await writeFile(fine, 'ClientUseIPv6 0\n');
      assert.deepEqual(await readTorrcExtra(fine), ['ClientUseIPv6 0']);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
