import type { Duplex } from 'node:stream';
import { DomainConsoleFlags, DomainCreateFlags } from '@multiverse/libvirt-ts';
import type { Domain, LibvirtClient } from '@multiverse/libvirt-ts';
import type { ReadyAnnouncement } from '@multiverse/vm-templates';
import { whenGuestShellAnswers } from './guest-shell.js';
import { readyLineOn } from './ready-line.js';

/** A tiny guest on TCG reports ready in seconds; a loaded 2-core machine can make that a minute. */
export const GUEST_READY_TIMEOUT_MS = 120_000;

/**
 * Attaches the serial console of a domain started paused, resumes it and waits for its READY line — the
 * way hostd starts a guest, so that the line cannot pass before anyone listens.
 */
export async function resumeUntilReady(
  client: LibvirtClient,
  domain: Domain,
  timeoutMs = GUEST_READY_TIMEOUT_MS,
  afterReady?: (console: Duplex) => Promise<void>,
): Promise<ReadyAnnouncement> {
  const console = await client.domainOpenConsole(domain, { flags: [DomainConsoleFlags.FORCE] });
  try {
    const ready = readyLineOn(console, timeoutMs);
    try {
      await client.domainResume(domain);
    } catch (error) {
      ready.catch(() => undefined); // the console closing below ends it; the resume's error is the one to see
      throw error;
    }
    const announcement = await ready;
    await afterReady?.(console);
    return announcement;
  } finally {
    console.destroy();
  }
}

/**
 * As resumeUntilReady, then until the console shell answers a probe: what `mvctl vm run` waits for before it
 * hands over a disposable (a shell that starts just after READY may drop what is typed before it is up).
 */
export function resumeUntilShellAnswers(
  client: LibvirtClient,
  domain: Domain,
  timeoutMs = GUEST_READY_TIMEOUT_MS,
): Promise<ReadyAnnouncement> {
  return resumeUntilReady(client, domain, timeoutMs, (console) => whenGuestShellAnswers(console));
}

/** Starts a defined, shut-off domain paused, then as `resumeUntilReady`. */
export async function bootUntilReady(
  client: LibvirtClient,
  domain: Domain,
  timeoutMs = GUEST_READY_TIMEOUT_MS,
): Promise<ReadyAnnouncement> {
  await client.domainCreate(domain, DomainCreateFlags.START_PAUSED);
  return resumeUntilReady(client, domain, timeoutMs);
}
