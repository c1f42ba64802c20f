import { randomBytes } from 'node:crypto';
import type { Domain, LibvirtClient } from '@multiverse/libvirt-ts';

/**
 * Shut-off domains a benchmark defines on libvirt's test driver, all named with a prefix unique to the run, so
 * `remove()` finds every one of them by listing — even one whose define reply was lost to an interruption.
 */
export class BenchDomains {
  /** Handles of the domains defined so far, in the order they were defined. */
  readonly domains: Domain[] = [];

  constructor(
    private readonly client: LibvirtClient,
    readonly prefix = `mv-bench-${process.pid}-${randomBytes(4).toString('hex')}-`,
  ) {}

  /** Defines `count` more domains, one after another. */
  async define(count: number): Promise<void> {
    for (let index = 0; index < count; index++) {
      const name = `${this.prefix}${this.domains.length}`;
      this.domains.push(await this.client.domainDefineXml(testDriverDomainXml(name)));
    }
  }

  /** Undefines every domain named with the prefix; returns how many there were. */
  async remove(): Promise<number> {
    const ours = (await this.client.listAllDomains()).filter((domain) => domain.name.startsWith(this.prefix));
    await Promise.all(ours.map((domain) => this.client.domainUndefine(domain)));
    this.domains.length = 0;
    return ours.length;
  }
}

/** The least the test driver accepts: it never runs anything, so no emulator or disk is involved. */
function testDriverDomainXml(name: string): string {
  return `<domain type='test'><name>${name}</name><memory unit='KiB'>8192</memory><os><type>hvm</type></os></domain>`;
}
