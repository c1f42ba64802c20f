import { readFileSync, lstatSync, readlinkSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { JailShellError } from './errors.js';
import type { ProcessCommand } from './session-process.js';

/** The unprivileged account a session's sandbox runs as. */
export interface SandboxUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export interface SandboxOptions {
  readonly user: SandboxUser;
  /** Host paths made visible read-only at the same place (the program and what it loads). */
  readonly readOnlyPaths: readonly string[];
  /**
   * Unix sockets bound in at `target`: the only things in the sandbox that can be written to. A socket
   * is a door to whoever listens on it, nothing more.
   */
  readonly sockets?: readonly { readonly source: string; readonly target: string }[];
  /** The whole environment inside; nothing of the caller's leaks in. */
  readonly environment: Readonly<Record<string, string>>;
  readonly hostname?: string;
  /** Override the tools' paths (tests, other distributions). */
  readonly setprivPath?: string;
  readonly bubblewrapPath?: string;
}

/**
 * Top-level directories that are symlinks into /usr on a merged-/usr system (Debian 12): recreated as
 * symlinks so the dynamic loader finds `/lib64/ld-linux-x86-64.so.2`; bound read-only where they
 * are real directories.
 */
const SYSTEM_DIRECTORIES = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'] as const;

/**
 * The command that runs `program` in a bubblewrap sandbox as an unprivileged user:
 *
 * - `setpriv` (as root) switches to the sandbox user, drops every supplementary group (root's group
 *   would still open hostd's 0660 socket), every capability including the bounding set, and sets
 *   no_new_privs, so no setuid program can raise it again. Then bubblewrap runs unprivileged, on user
 *   namespaces, with nothing it could misuse.
 * - `--unshare-all`: new user, pid, network (only a loopback with nothing on it), ipc, uts and cgroup
 *   namespaces; `--new-session` so the sandbox cannot push keystrokes into a terminal outside it;
 *   `--die-with-parent`; `--cap-drop ALL`; `--clearenv`.
 * - The filesystem is an empty root holding /usr and the given paths read-only, a minimal /dev, the
 *   sockets, and nothing else: no /etc, no /home, no /proc, no /tmp; then root and /dev are remounted
 *   read-only, so nothing at all is writable but the sockets.
 */
export function sandboxedCommand(
  program: { readonly file: string; readonly args: readonly string[] },
  options: SandboxOptions,
): ProcessCommand {
  for (const path of [
    program.file,
    ...options.readOnlyPaths,
    ...(options.sockets ?? []).map((s) => s.target),
  ]) {
    if (!isAbsolute(path) || path.split('/').includes('..')) {
      throw new JailShellError('SANDBOX_INVALID', `Sandbox paths must be absolute and plain, not ${path}`);
    }
  }
  const bubblewrap = [
    options.bubblewrapPath ?? 'bwrap',
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--clearenv',
    '--hostname',
    options.hostname ?? 'jail',
    '--ro-bind',
    '/usr',
    '/usr',
    ...systemDirectoryArguments(),
    '--dev',
    '/dev',
    ...options.readOnlyPaths.flatMap((path) => ['--ro-bind', path, path]),
    ...(options.sockets ?? []).flatMap(({ source, target }) => ['--bind', source, target]),
    ...Object.entries(options.environment).flatMap(([name, value]) => ['--setenv', name, value]),
    '--remount-ro',
    '/dev',
    '--remount-ro',
    '/',
    '--chdir',
    '/',
    '--',
    program.file,
    ...program.args,
  ];
  return {
    file: options.setprivPath ?? 'setpriv',
    args: [
      `--reuid=${options.user.uid}`,
      `--regid=${options.user.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
      ...bubblewrap,
    ],
    // setpriv and bwrap need only PATH to find bwrap; the program inside gets `environment` alone.
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  };
}

function systemDirectoryArguments(): string[] {
  return SYSTEM_DIRECTORIES.flatMap((path) => {
    let stats;
    try {
      stats = lstatSync(path);
    } catch {
      return [];
    }
    if (stats.isSymbolicLink()) return ['--symlink', readlinkSync(path), path];
    return stats.isDirectory() ? ['--ro-bind', path, path] : [];
  });
}

/** Finds a system account in /etc/passwd (Node has no getpwnam); refuses root and unknown names. */
export function lookupSandboxUser(name: string, passwdPath = '/etc/passwd'): SandboxUser {
  const line = readFileSync(passwdPath, 'utf8')
    .split('\n')
    .find((entry) => entry.split(':')[0] === name);
  const [, , uidText = '', gidText = ''] = line?.split(':') ?? [];
  const uid = Number(uidText);
  const gid = Number(gidText);
  if (line === undefined || !Number.isInteger(uid) || !Number.isInteger(gid) || uidText === '') {
    throw new JailShellError(
      'SANDBOX_USER_UNKNOWN',
      `No system user ${name} for the jail's sandbox: scripts/setup.sh creates it (useradd --system ${name})`,
    );
  }
  if (uid === 0 || gid === 0) {
    throw new JailShellError('SANDBOX_INVALID', `The sandbox user ${name} must not be root or in group root`);
  }
  return { name, uid, gid };
}
