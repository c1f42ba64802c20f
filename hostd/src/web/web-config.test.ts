import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from '../config.js';

describe('MULTIVERSE_WEB_LISTEN', () => {
  it('defaults to loopback port 8420', () => {
    assert.deepEqual(readConfig({}).webListen, { host: '127.0.0.1', port: 8420 });
  });

  it('takes IPv4, [IPv6] and localhost addresses, and off', () => {
    assert.deepEqual(readConfig({ MULTIVERSE_WEB_LISTEN: '0.0.0.0:80' }).webListen, {
      host: '0.0.0.0',
      port: 80,
    });
    assert.deepEqual(readConfig({ MULTIVERSE_WEB_LISTEN: '[::1]:8421' }).webListen, {
      host: '::1',
      port: 8421,
    });
    assert.deepEqual(readConfig({ MULTIVERSE_WEB_LISTEN: 'localhost:9000' }).webListen, {
      host: 'localhost',
      port: 9000,
    });
    assert.equal(readConfig({ MULTIVERSE_WEB_LISTEN: 'off' }).webListen, null);
  });

  it('refuses anything else, naming the setting', () => {
    for (const value of ['8420', 'example.org:80', '127.0.0.1:0', '127.0.0.1:70000', 'http://127.0.0.1:80']) {
      assert.throws(
        () => readConfig({ MULTIVERSE_WEB_LISTEN: value }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /MULTIVERSE_WEB_LISTEN: (must be HOST:PORT|the port must be at most 65535)/.test(error.message),
        value,
      );
    }
  });
});
