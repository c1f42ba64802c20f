import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from '../config.js';

describe('MULTIVERSE_JAIL_LISTEN', () => {
  it('defaults to the loopback port 2222', () => {
    assert.deepEqual(readConfig({}).jailListen, { host: '127.0.0.1', port: 2222 });
  });

  it('takes an IPv4 or bracketed IPv6 address with a port, or off', () => {
    assert.deepEqual(readConfig({ MULTIVERSE_JAIL_LISTEN: '0.0.0.0:22' }).jailListen, {
      host: '0.0.0.0',
      port: 22,
    });
    assert.deepEqual(readConfig({ MULTIVERSE_JAIL_LISTEN: '[::1]:2200' }).jailListen, {
      host: '::1',
      port: 2200,
    });
    assert.equal(readConfig({ MULTIVERSE_JAIL_LISTEN: 'off' }).jailListen, null);
  });

  it('refuses anything else, naming the variable', () => {
    for (const value of ['2222', 'example.org:22', '127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1:22; rm']) {
      assert.throws(
        () => readConfig({ MULTIVERSE_JAIL_LISTEN: value }),
        (error: unknown) => error instanceof ConfigError && error.message.includes('MULTIVERSE_JAIL_LISTEN'),
        value,
      );
    }
  });
});
