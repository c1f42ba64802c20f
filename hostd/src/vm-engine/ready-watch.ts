import type { Duplex } from 'node:stream';
import { ConsoleLineSplitter, parseReadyLine } from '@multiverse/vm-templates';
import type { ReadyAnnouncement } from '@multiverse/vm-templates';

/** How much of the console a failure message quotes, so a hung boot explains itself. */
const TRANSCRIPT_TAIL_LINES = 15;

/** Why no READY line came: the bound passed, the console ended (the guest stopped), or the wait was cancelled. */
export type ReadyWaitFailure = 'timeout' | 'console-closed' | 'cancelled';

export class ReadyWaitError extends Error {
  override readonly name = 'ReadyWaitError';

  constructor(
    readonly failure: ReadyWaitFailure,
    message: string,
    /** The last console lines before the failure. */
    readonly consoleTail: string,
  ) {
    super(message);
  }
}

/**
 * Reads a guest's serial console until the serial protocol's READY line (userspace is up), and returns the
 * announcement. The stream must be attached before the guest runs, or the line can pass unseen.
 */
export function waitForReadyLine(
  console: Duplex,
  options: { readonly timeoutMs: number; readonly signal: AbortSignal },
): Promise<ReadyAnnouncement> {
  const splitter = new ConsoleLineSplitter();
  const recent: string[] = [];
  const tail = (): string => [...recent, splitter.partialLine].join('\n');
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      for (const line of splitter.push(chunk)) {
        const ready = parseReadyLine(line);
        if (ready !== undefined) {
          settle();
          resolve(ready);
          return;
        }
        recent.push(line);
        if (recent.length > TRANSCRIPT_TAIL_LINES) recent.shift();
      }
    };
    const fail = (failure: ReadyWaitFailure, message: string): void => {
      settle();
      reject(new ReadyWaitError(failure, message, tail()));
    };
    const onEnd = (): void =>
      fail('console-closed', 'the console closed before the READY line (the guest stopped)');
    const onError = (error: Error): void => fail('console-closed', `the console failed: ${error.message}`);
    const onAbort = (): void => fail('cancelled', 'the wait for the READY line was cancelled');
    const timer = setTimeout(
      () => fail('timeout', `no READY line within ${options.timeoutMs / 1000} s`),
      options.timeoutMs,
    );
    const settle = (): void => {
      clearTimeout(timer);
      console.off('data', onData);
      console.off('end', onEnd);
      console.off('close', onEnd);
      console.off('error', onError);
      options.signal.removeEventListener('abort', onAbort);
    };
    if (options.signal.aborted) {
      onAbort();
      return;
    }
    options.signal.addEventListener('abort', onAbort);
    console.on('data', onData);
    console.once('end', onEnd);
    console.once('close', onEnd);
    console.once('error', onError);
  });
}
