// A real guest on the shared system libvirtd: the tiny image booted under TCG, driven only through
// libvirt-ts (define, lifecycle events, start, console stream, destroy, undefine).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DomainCreateFlags, LibvirtClient } from '@multiverse/libvirt-ts';
import type { Domain, EventSubscription, LibvirtStream } from '@multiverse/libvirt-ts';
import { parseReadyLine, tinyShellPrompt } from '@multiverse/vm-templates';
import type { InstalledImage } from '@multiverse/vm-templates';
import { GuestConsole } from '@multiverse/vm-templates/testing';
import { LifecycleRecorder } from './fixtures/lifecycle-recorder.js';
import { sharedTinyImage } from './fixtures/shared-images.js';
import { tinyDomainXml } from './fixtures/tiny-domain-xml.js';

/**
 * Resume to READY measured 2.0-3.7 s under TCG on the 2-core build machine while other suites ran
 * (guest uptime at READY 1.3-2.5 s). The bound is ~16x the worst: the machine is shared.
 */
const READY_TIMEOUT_MS = 60_000;
/** The prompt followed READY within 25-55 ms. */
const PROMPT_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 10_000;
const EVENT_TIMEOUT_MS = 10_000;

/** Markup that would end the element and redefine crash handling if it were not escaped. */
const HOSTILE_DESCRIPTION = `a < b && c > "d" 'e' </description><on_crash>restart</on_crash><description>`;

describe('tiny guest on qemu:///system (TCG)', { timeout: 180_000 }, () => {
  const suffix = randomBytes(4).toString('hex');
  const domainName = `multiverse-it-tiny-${suffix}`;
  const hostname = `it-${suffix}`;
  const lifecycle = new LifecycleRecorder();
  let image: InstalledImage;
  let client: LibvirtClient | undefined;
  let domain: Domain | undefined;
  let subscription: EventSubscription | undefined;
  let consoleStream: LibvirtStream | undefined;

  before(async () => {
    image = await sharedTinyImage();
    client = await LibvirtClient.connect('qemu:///system');
  });

  after(async () => {
    // Every step runs even if an earlier one (or the test) failed; failures are reported together.
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>): Promise<void> => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    consoleStream?.destroy();
    const connection = client;
    const leftover = domain;
    if (connection !== undefined && leftover !== undefined) {
      await attempt(async () => {
        if (await connection.domainIsActive(leftover)) await connection.domainDestroy(leftover);
      });
      await attempt(() => connection.domainUndefine(leftover));
    }
    await attempt(async () => subscription?.close());
    await attempt(async () => connection?.close());
    if (failures.length > 0) throw new AggregateError(failures, `cleaning up domain ${domainName} failed`);
  });

  it('boots, announces READY, runs a console command, and stops', async (t) => {
    const libvirt = client as LibvirtClient;
    const xml = tinyDomainXml({ name: domainName, image, hostname, description: HOSTILE_DESCRIPTION });
    const defined = await libvirt.domainDefineXml(xml);
    domain = defined;

    const stored = await libvirt.domainGetXmlDesc(defined);
    assert.equal(stored.match(/<on_crash>/g)?.length, 1, 'the description could not add elements');
    assert.match(stored, /<on_crash>destroy<\/on_crash>/);
    assert.match(stored, /<description>a &lt; b &amp;&amp; c &gt; /);

    subscription = await libvirt.onDomainLifecycle(lifecycle.listener, { domain: defined });

    // Started paused so the console is attached before the guest can print anything.
    const startedAt = performance.now();
    await libvirt.domainCreate(defined, DomainCreateFlags.START_PAUSED);
    const started = await lifecycle.waitFor('started', EVENT_TIMEOUT_MS);
    assert.equal(started.domain.name, domainName);
    assert.equal(started.detail, 'booted');
    await lifecycle.waitFor('suspended', EVENT_TIMEOUT_MS);

    consoleStream = await libvirt.domainOpenConsole(defined);
    const serial = new GuestConsole(consoleStream);
    const resumedAt = performance.now();
    await libvirt.domainResume(defined);
    await lifecycle.waitFor('resumed', EVENT_TIMEOUT_MS);

    const ready = await serial.waitForLine('READY line', READY_TIMEOUT_MS, parseReadyLine);
    const readyAt = performance.now();
    assert.equal(ready.hostname, hostname);
    assert.match(ready.bootId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.ok(ready.uptimeSeconds > 0 && ready.uptimeSeconds < READY_TIMEOUT_MS / 1000);

    await serial.waitForPrompt('shell prompt', PROMPT_TIMEOUT_MS, tinyShellPrompt(hostname));
    const promptAt = performance.now();
    await serial.send('echo $((6*7))\n');
    await serial.waitForLine('"42" output line', COMMAND_TIMEOUT_MS, (line) =>
      line === '42' ? line : undefined,
    );
    t.diagnostic(
      `boot: create(paused) to started ${(resumedAt - startedAt).toFixed(0)} ms; ` +
        `resume to READY ${(readyAt - resumedAt).toFixed(0)} ms (guest uptime ${ready.uptimeSeconds} s); ` +
        `READY to prompt ${(promptAt - readyAt).toFixed(0)} ms`,
    );

    await libvirt.domainDestroy(defined);
    const stopped = await lifecycle.waitFor('stopped', EVENT_TIMEOUT_MS);
    assert.equal(stopped.detail, 'destroyed');
    assert.equal(await libvirt.domainIsActive(defined), false);

    await libvirt.domainUndefine(defined);
    domain = undefined;
    await lifecycle.waitFor('undefined', EVENT_TIMEOUT_MS);
    await assert.rejects(libvirt.domainLookupByName(domainName), { codeName: 'VIR_ERR_NO_DOMAIN' });
  });
});
