import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, readConfig } from '../config.js';

describe('MULTIVERSE_VAULT_AUTOSEAL_S', () => {
  it('defaults to 15 minutes, takes whole seconds up to a week, 0 for never', () => {
    assert.equal(readConfig({}).vaultAutoSealSeconds, 900);
    assert.equal(readConfig({ MULTIVERSE_VAULT_AUTOSEAL_S: '0' }).vaultAutoSealSeconds, 0);
    assert.equal(readConfig({ MULTIVERSE_VAULT_AUTOSEAL_S: '604800' }).vaultAutoSealSeconds, 604_800);
  });

  it('refuses anything else, naming the variable', () => {
    for (const value of ['soon', '-1', '1.5', '0x10', '604801']) {
      assert.throws(
        () => readConfig({ MULTIVERSE_VAULT_AUTOSEAL_S: value }),
        (error: unknown) =>
          error instanceof ConfigError && /MULTIVERSE_VAULT_AUTOSEAL_S: must be/.test(error.message),
        value,
      );
    }
  });
});
