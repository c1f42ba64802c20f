import { open } from 'node:fs/promises';
import { UsageError } from './usage-error.js';

/**
 * Reads what a command takes from a file, or from stdin for `-` (or no file): a share, a key, a secret value.
 * Bounded, so a wrong file (a disk image) is refused instead of read whole. On a terminal it says what to paste.
 */
export async function readLocalInput(
  source: string | undefined,
  what: string,
  maxBytes: number,
  command: string,
): Promise<Buffer> {
  if (source === undefined || source === '-') return readStdin(what, maxBytes, command);
  let handle;
  try {
    handle = await open(source, 'r');
  } catch (error) {
    throw new UsageError(
      `cannot read ${what} from ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      command,
    );
  }
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes)
        throw new UsageError(`${source} is larger than ${what} can be (${maxBytes} bytes)`, command);
    }
    const content = Buffer.from(buffer.subarray(0, length));
    buffer.fill(0);
    return content;
  } finally {
    await handle.close();
  }
}

async function readStdin(what: string, maxBytes: number, command: string): Promise<Buffer> {
  if (process.stdin.isTTY) process.stderr.write(`paste ${what}, then press Ctrl-D on an empty line\n`);
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of process.stdin) {
    const bytes = chunk as Buffer;
    chunks.push(bytes);
    length += bytes.length;
    if (length > maxBytes) {
      for (const held of chunks) held.fill(0);
      throw new UsageError(`stdin holds more than ${what} can be (${maxBytes} bytes)`, command);
    }
  }
  const content = Buffer.concat(chunks);
  for (const held of chunks) held.fill(0);
  return content;
}
