import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deviceAddresses } from '../device/device-config.js';

/** A network namespace a test created; it deletes it (and its resolv.conf) in an `after` hook. */
export interface TestNetworkNamespace {
  readonly name: string;
  /** Runs a command inside the namespace; resolves with its exit code and output, never rejects on exit code. */
  exec(
    command: string,
    args: readonly string[],
    options?: { readonly timeoutMs?: number },
  ): Promise<ExecResult>;
  /**
   * Writes /etc/netns/NAME/resolv.conf, which `ip netns exec` mounts over /etc/resolv.conf for every process
   * it starts there: their name lookups then go to `nameserver`.
   */
  useNameserver(nameserver: string): Promise<void>;
  /**
   * Links the namespace to this one with a veth pair on a /30 (host side first address, namespace side second,
   * the namespace's default route through it). Deleting the namespace removes the pair.
   */
  connectToHost(link: { readonly interfaceName: string; readonly subnet: string }): Promise<NamespaceLink>;
  /** Deletes the namespace (its interfaces go with it) and its /etc/netns directory; safe to call twice. */
  delete(): Promise<void>;
}

export interface NamespaceLink {
  readonly interfaceName: string;
  readonly hostAddress: string;
  readonly namespaceAddress: string;
}

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const NETNS_DIRECTORY = '/run/netns';
const NETNS_ETC = '/etc/netns';

/**
 * Creates `<prefix>-<pid>-<random>` with its loopback up. The PID in the name lets a later run delete what a
 * killed test process left behind (sweepAbandonedNamespaces, called here first).
 */
export async function createTestNamespace(prefix: string): Promise<TestNetworkNamespace> {
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(prefix))
    throw new Error(`namespace prefix ${prefix} must be 1-21 of a-z 0-9 -`);
  sweepAbandonedNamespaces(prefix);
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  let deleted = false;
  return {
    name,
    exec: (command, args, options = {}) =>
      run('ip', ['netns', 'exec', name, command, ...args], options, false),
    useNameserver: async (nameserver) => {
      await mkdir(join(NETNS_ETC, name), { recursive: true });
      await writeFile(join(NETNS_ETC, name, 'resolv.conf'), `nameserver ${nameserver}\n`);
    },
    connectToHost: async ({ interfaceName, subnet }) => {
      const { hostAddress, peerAddress } = deviceAddresses(subnet);
      await run('ip', [
        'link',
        'add',
        interfaceName,
        'type',
        'veth',
        'peer',
        'name',
        'uplink0',
        'netns',
        name,
      ]);
      await run('ip', ['address', 'add', `${hostAddress}/30`, 'dev', interfaceName]);
      await run('ip', ['link', 'set', interfaceName, 'up']);
      await run('ip', ['-n', name, 'address', 'add', `${peerAddress}/30`, 'dev', 'uplink0']);
      await run('ip', ['-n', name, 'link', 'set', 'uplink0', 'up']);
      await run('ip', ['-n', name, 'route', 'add', 'default', 'via', hostAddress]);
      return { interfaceName, hostAddress, namespaceAddress: peerAddress };
    },
    delete: async () => {
      if (deleted) return;
      deleted = true;
      await rm(join(NETNS_ETC, name), { recursive: true, force: true });
      await run('ip', ['netns', 'delete', name]).catch(() => undefined);
    },
  };
}

/** Deletes namespaces named `<prefix>-<pid>-…` whose creating process is gone. */
export function sweepAbandonedNamespaces(prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(NETNS_DIRECTORY);
  } catch {
    return;
  }
  for (const name of names) {
    const match = new RegExp(`^${prefix}-([0-9]+)-[0-9a-f]{6}$`).exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    } catch {
      // Someone else deleted it meanwhile.
    }
    rmSync(join(NETNS_ETC, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function run(
  command: string,
  args: readonly string[],
  options: { readonly timeoutMs?: number } = {},
  rejectOnFailure = true,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: options.timeoutMs ?? 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      if (error && rejectOnFailure) {
        reject(new Error(`${[command, ...args].join(' ')} failed: ${stderr.trim() || error.message}`));
        return;
      }
      resolve({ code, stdout, stderr });
    });
  });
}
