import { execFile } from 'node:child_process';
import { OnionDeviceError } from './errors.js';

/** Which Debian package provides each tool the device runs, for the "not installed" error. */
const PACKAGE_OF: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  nft: 'nftables',
  sysctl: 'procps',
};

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one system tool without a shell (arguments are passed as they are, never parsed) and resolves with
 * its output; a non-zero exit rejects with ONION_DEVICE_COMMAND_FAILED carrying the command and stderr.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { readonly input?: string; readonly timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            new OnionDeviceError(
              'ONION_DEVICE_TOOL_MISSING',
              `${command} is not installed: apt-get install ${PACKAGE_OF[command] ?? command}`,
              { cause: error },
            ),
          );
          return;
        }
        reject(
          new OnionDeviceError(
            'ONION_DEVICE_COMMAND_FAILED',
            `${[command, ...args].join(' ')} failed: ${stderr.trim() || error.message}`,
            { cause: error },
          ),
        );
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
