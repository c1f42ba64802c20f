import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from './config.js';

describe('hostd config', () => {
  it('defaults to the system libvirt and the FHS directories', () => {
    const defaults = readConfig({});
    assert.deepEqual(
      {
        libvirtUri: defaults.libvirtUri,
        stateDir: defaults.stateDir,
        runDir: defaults.runDir,
        accelerator: defaults.accelerator,
        logLevel: defaults.logLevel,
        templatesDir: defaults.templatesDir,
        disposablePool: defaults.disposablePool,
      },
      {
        libvirtUri: 'qemu:///system',
        stateDir: '/var/lib/multiverse',
        runDir: '/run/multiverse',
        accelerator: 'auto',
        logLevel: 'info',
        templatesDir: null,
        disposablePool: new Map([['disposable', 1]]),
      },
    );
    assert.equal(readConfig({ MULTIVERSE_TEMPLATES_DIR: '/srv/templates' }).templatesDir, '/srv/templates');
  });

  it('reads the disposable pool sizes per template, or none', () => {
    assert.deepEqual(
      readConfig({ MULTIVERSE_DISPOSABLE_POOL: 'disposable=3,scratch=0' }).disposablePool,
      new Map([
        ['disposable', 3],
        ['scratch', 0],
      ]),
    );
    assert.equal(readConfig({ MULTIVERSE_DISPOSABLE_POOL: 'none' }).disposablePool.size, 0);
    assert.throws(
      () => readConfig({ MULTIVERSE_DISPOSABLE_POOL: 'disposable=lots' }),
      /MULTIVERSE_DISPOSABLE_POOL: must be TEMPLATE=COUNT/,
    );
  });

  it('bounds the checkpoint chain depth', () => {
    assert.equal(readConfig({}).maxChainDepth, 16);
    assert.equal(readConfig({ MULTIVERSE_MAX_CHAIN_DEPTH: '4' }).maxChainDepth, 4);
    assert.throws(
      () => readConfig({ MULTIVERSE_MAX_CHAIN_DEPTH: '1' }),
      /MULTIVERSE_MAX_CHAIN_DEPTH: must be/,
    );
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
