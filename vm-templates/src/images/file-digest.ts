import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface FileDigest {
  readonly sha256: string;
  readonly size: number;
}

/** Streams a file through sha256 (kernel images are tens of MiB; disks later are GiB). */
export async function digestFile(path: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
  }
  return { sha256: hash.digest('hex'), size };
}

export function digestBuffer(contents: Buffer): FileDigest {
  return { sha256: createHash('sha256').update(contents).digest('hex'), size: contents.length };
}
