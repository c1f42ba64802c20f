// Test support: a command run in a guest's console shell, expected to succeed.
import assert from 'node:assert/strict';
import type { LibvirtClient } from '@multiverse/libvirt-ts';
import { DomainConsoleFlags } from '@multiverse/libvirt-ts';
import { runConsoleCommand } from '../vm-engine/console-command.js';

/** Runs `command` on VM `vm`'s serial console (taking the console over) and returns its output; exit 0 expected. */
export async function onGuestConsole(
  client: LibvirtClient,
  vm: string,
  command: string,
  timeoutMs = 60_000,
): Promise<string> {
  const console = await client.domainOpenConsole(await client.domainLookupByName(vm), {
    flags: [DomainConsoleFlags.FORCE],
  });
  try {
    const result = await runConsoleCommand(console, command, { timeoutMs });
    assert.equal(result.exitCode, 0, result.output);
    return result.output;
  } finally {
    console.destroy();
  }
}
