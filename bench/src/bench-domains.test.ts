import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { BenchDomains } from './bench-domains.js';

describe('BenchDomains on test:///default', () => {
  let client: LibvirtClient;
  before(async () => {
    client = await LibvirtClient.connect('test:///default');
  });
  after(() => client.close());

  it('defines uniquely named shut-off domains and removes all of them', async () => {
    const domains = new BenchDomains(client);
    try {
      await domains.define(3);
      assert.deepEqual(
        domains.domains.map((domain) => domain.name),
        [0, 1, 2].map((index) => `${domains.prefix}${index}`),
      );
      const states = await Promise.all(domains.domains.map((domain) => client.domainGetState(domain)));
      assert.deepEqual(
        states.map((state) => state.stateName),
        ['shutoff', 'shutoff', 'shutoff'],
      );
    } finally {
      assert.equal(await domains.remove(), 3);
    }
    const left = (await client.listAllDomains()).filter((domain) => domain.name.startsWith(domains.prefix));
    assert.deepEqual(left, []);
    assert.deepEqual(domains.domains, []);
  });

  it('gives two sets different prefixes so concurrent runs never touch each other', () => {
    assert.notEqual(new BenchDomains(client).prefix, new BenchDomains(client).prefix);
  });
});
