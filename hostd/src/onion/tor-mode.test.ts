import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from '../config.js';
import { describeTorMode } from './tor-mode.js';

describe('MULTIVERSE_TOR and MULTIVERSE_TORRC_EXTRA', () => {
  it('default to hostd’s own tor and no extra lines', () => {
    const config = readConfig({});
    assert.deepEqual(config.tor, { kind: 'own' });
    assert.equal(config.torrcExtraPath, null);
  });

  it('read off, a control socket path and a control port', () => {
    assert.deepEqual(readConfig({ MULTIVERSE_TOR: 'off' }).tor, { kind: 'off' });
    assert.deepEqual(readConfig({ MULTIVERSE_TOR: 'control:/run/tor/control' }).tor, {
      kind: 'control',
      endpoint: { path: '/run/tor/control' },
    });
    assert.deepEqual(readConfig({ MULTIVERSE_TOR: 'control:127.0.0.1:9051' }).tor, {
      kind: 'control',
      endpoint: { host: '127.0.0.1', port: 9051 },
    });
    const ipv6 = readConfig({ MULTIVERSE_TOR: 'control:[::1]:9051' }).tor;
    assert.deepEqual(ipv6, { kind: 'control', endpoint: { host: '::1', port: 9051 } });
    assert.equal(describeTorMode(ipv6), 'control:::1:9051');
    assert.equal(
      readConfig({ MULTIVERSE_TORRC_EXTRA: '/etc/multiverse/torrc' }).torrcExtraPath,
      '/etc/multiverse/torrc',
    );
  });

  it('refuses anything else, naming the variable', () => {
    for (const value of [
      'on',
      'control:',
      'control:tor:9051x',
      'control:127.0.0.1:99999',
      'control:relative/path',
    ]) {
      assert.throws(
        () => readConfig({ MULTIVERSE_TOR: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, value);
          assert.match(error.message, /MULTIVERSE_TOR: must be own, off, control:/);
          return true;
        },
      );
    }
    assert.throws(
      () => readConfig({ MULTIVERSE_TORRC_EXTRA: 'torrc' }),
      /MULTIVERSE_TORRC_EXTRA: must be an absolute path/,
    );
  });
});
