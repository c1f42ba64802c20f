import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDependsField, queryInstalledPackage } from './debian-packages.js';
import { ImageError } from './image-error.js';

describe('parseDependsField', () => {
  it('reads clauses and alternatives, dropping versions and architectures', () => {
    assert.deepEqual(
      parseDependsField(
        'kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool',
      ),
      [['kmod'], ['linux-base'], ['initramfs-tools', 'linux-initramfs-tool']],
    );
    assert.deepEqual(parseDependsField('libc6:amd64 (>= 2.34)'), [['libc6']]);
    assert.deepEqual(parseDependsField(''), []);
  });

  it('rejects a field it cannot read', () => {
    assert.throws(() => parseDependsField('kmod, , x'), { code: 'DPKG_QUERY_FAILED' });
  });
});

describe('queryInstalledPackage', () => {
  it('finds an installed package with its version', async () => {
    const busybox = await queryInstalledPackage('busybox-static');
    assert.equal(busybox.name, 'busybox-static');
    assert.match(busybox.version, /^(\d+:)?1\.\d+/);
  });

  it('says how to install a package that is missing', async () => {
    await assert.rejects(queryInstalledPackage('multiverse-no-such-package'), (error: unknown) => {
      assert.ok(error instanceof ImageError);
      assert.equal(error.code, 'PACKAGE_NOT_INSTALLED');
      assert.match(error.message, /apt-get install multiverse-no-such-package/);
      return true;
    });
  });

  it('refuses names that are not Debian package names before running anything', async () => {
    await assert.rejects(queryInstalledPackage('--list'), { code: 'INVALID_OPTION' });
    await assert.rejects(queryInstalledPackage('a b'), { code: 'INVALID_OPTION' });
  });

  it('reports a dpkg-query that cannot run', async () => {
    await assert.rejects(queryInstalledPackage('busybox-static', { dpkgQuery: '/nonexistent/dpkg-query' }), {
      code: 'DPKG_QUERY_FAILED',
    });
  });
});
