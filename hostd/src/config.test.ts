import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from './config.js';

describe('hostd config', () => {
  it('defaults to the system libvirt and the FHS directories', () => {
    assert.deepEqual(readConfig({}), {
      libvirtUri: 'qemu:///system',
      stateDir: '/var/lib/multiverse',
      runDir: '/run/multiverse',
      accelerator: 'auto',
      logLevel: 'info',
      templatesDir: null,
    });
    assert.equal(readConfig({ MULTIVERSE_TEMPLATES_DIR: '/srv/templates' }).templatesDir, '/srv/templates');
  });

  it('names every bad variable and what it must be', () => {
    assert.throws(
      () =>
        readConfig({
          MULTIVERSE_STATE_DIR: 'relative/dir',
          MULTIVERSE_ACCELERATOR: 'xen',
          MULTIVERSE_TEMPLATES_DIR: 'templates',
        }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'HOSTD_CONFIG_INVALID' &&
        /MULTIVERSE_STATE_DIR: must be an absolute path/.test(error.message) &&
        /MULTIVERSE_ACCELERATOR/.test(error.message) &&
        /MULTIVERSE_TEMPLATES_DIR: must be an absolute path/.test(error.message),
    );
  });
});
