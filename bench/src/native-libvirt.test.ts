import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openNativeBinding } from './native-libvirt.js';

describe('openNativeBinding', () => {
  it('reports a package that is not installed instead of throwing', async () => {
    const binding = await openNativeBinding('test+unix:///default', 'no-such-libvirt-binding');
    assert.equal(binding.available, false);
    assert.match(!binding.available ? binding.reason : '', /^no-such-libvirt-binding did not load: /);
  });

  it('reports a module that is not a libvirt binding', async () => {
    const binding = await openNativeBinding('test+unix:///default', 'node:os');
    assert.deepEqual(binding, { available: false, reason: 'node:os exports no Hypervisor class' });
  });

  it('opens the daemon with @unraid/libvirt where it is built, and reports a URI it cannot open', async (t) => {
    const binding = await openNativeBinding('test+unix:///default');
    if (!binding.available) {
      t.skip(`the optional binding is not usable here: ${binding.reason}`);
      return;
    }
    try {
      assert.ok((await binding.hypervisor.connectListAllDomains()).length >= 1);
    } finally {
      await binding.hypervisor.connectClose();
    }
    const refused = await openNativeBinding('no-such-driver:///');
    assert.equal(refused.available, false);
    assert.match(!refused.available ? refused.reason : '', /could not open no-such-driver:\/\/\//);
  });
});
