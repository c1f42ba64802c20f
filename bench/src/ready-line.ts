import type { Duplex } from 'node:stream';
import { ConsoleLineSplitter, parseReadyLine } from '@multiverse/vm-templates';
import type { ReadyAnnouncement } from '@multiverse/vm-templates';

/** No READY line came: the guest stopped, the console failed, or the bound passed. */
export class ReadyLineError extends Error {
  readonly code = 'BENCH_GUEST_NOT_READY';
  constructor(message: string) {
    super(message);
    this.name = 'ReadyLineError';
  }
}

/** How much of the console a failure quotes, so that a boot that hung explains itself. */
const TAIL_LINES = 10;

/**
 * Resolves with the guest's READY announcement (the serial protocol's `MULTIVERSE-READY …` line) as soon as
 * it arrives on `console`; the stream must be attached before the guest runs, or the line can pass unseen.
 */
export function readyLineOn(console: Duplex, timeoutMs: number): Promise<ReadyAnnouncement> {
  const splitter = new ConsoleLineSplitter();
  const recent: string[] = [];
  return new Promise((resolve, reject) => {
    const finish = (outcome: () => void) => {
      clearTimeout(timer);
      console.off('data', onData);
      console.off('close', onClosed);
      console.off('end', onClosed);
      console.off('error', onError);
      outcome();
    };
    const fail = (why: string) =>
      finish(() =>
        reject(
          new ReadyLineError(
            `${why}; the console's last lines:\n${[...recent, splitter.partialLine].join('\n')}`,
          ),
        ),
      );
    const onData = (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        const ready = parseReadyLine(line);
        if (ready !== undefined) {
          finish(() => resolve(ready));
          return;
        }
        recent.push(line);
        if (recent.length > TAIL_LINES) recent.shift();
      }
    };
    const onClosed = () => fail('the console closed before the guest reported ready (it stopped)');
    const onError = (error: Error) => fail(`the console failed: ${error.message}`);
    const timer = setTimeout(() => fail(`no READY line within ${timeoutMs / 1000} s`), timeoutMs);
    console.on('data', onData);
    console.once('close', onClosed);
    console.once('end', onClosed);
    console.once('error', onError);
  });
}
