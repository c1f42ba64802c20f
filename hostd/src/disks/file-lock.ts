import { spawn } from 'node:child_process';
import { DiskError } from './errors.js';

export interface HeldFileLock {
  release(): Promise<void>;
}

const BUSY_EXIT_STATUS = 75;

interface RefCounted {
  ref?: () => void;
  unref?: () => void;
}

/**
 * An exclusive lock on `path` shared by every process on the host, released by the kernel when its holder dies.
 *
 * Node has no flock(2), and a lock file holding a PID cannot be taken over safely after a crash (two processes
 * can both decide it is stale). So the lock is held by util-linux `flock` running `cat` on a pipe from this
 * process: `cat` echoes a line once the lock is taken, and exits (dropping the lock) when the pipe closes, which
 * the kernel does for us if this process is killed.
 */
export function acquireFileLock(
  path: string,
  options: { waitMs: number; what: string },
): Promise<HeldFileLock> {
  const wait = options.waitMs > 0 ? ['--wait', (options.waitMs / 1000).toFixed(3)] : ['--nonblock'];
  const holder = spawn(
    'flock',
    ['--exclusive', ...wait, '--conflict-exit-code', String(BUSY_EXIT_STATUS), path, 'cat'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => holder.once('close', (status) => resolve(status)));
  // A holder that exits at once (lock busy) closes the pipe under our write; its exit status says why.
  holder.stdin.on('error', () => undefined);
  let stderr = '';
  holder.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  return new Promise<HeldFileLock>((resolve, reject) => {
    holder.once('error', (error) =>
      reject(
        new DiskError(
          'CHAIN_BUSY',
          `cannot run flock to lock ${options.what}: ${error.message}. Install util-linux.`,
          { cause: error },
        ),
      ),
    );
    let held = false;
    // A held lock never keeps this process alive by itself: at exit the kernel closes the pipe and `cat` ends.
    // Releasing waits for the holder's exit, so its handles count again while it does.
    const holderHandles = (ref: boolean): void => {
      for (const handle of [holder, holder.stdin, holder.stdout, holder.stderr] as unknown as RefCounted[]) {
        if (ref) handle.ref?.();
        else handle.unref?.();
      }
    };
    holder.stdout.once('data', () => {
      held = true;
      holder.stdout.resume();
      holderHandles(false);
      resolve({
        release: async () => {
          holderHandles(true);
          holder.stdin.end();
          await exited;
        },
      });
    });
    void exited.then((status) => {
      if (held) return;
      if (status === BUSY_EXIT_STATUS) {
        reject(
          new DiskError(
            'CHAIN_BUSY',
            `${options.what} is locked by another process (waited ${options.waitMs} ms). Wait for its operation to finish and try again.`,
          ),
        );
      } else {
        reject(
          new DiskError('CHAIN_BUSY', `flock on ${path} failed (exit ${String(status)}): ${stderr.trim()}.`),
        );
      }
    });
    holder.stdin.write('locked\n');
  });
}
