import type { Socket } from 'node:net';

/** Why a handshake read stopped before it had the bytes it needed. */
export class HandshakeReadError extends Error {
  override readonly name = 'HandshakeReadError';

  constructor(
    readonly reason: 'closed' | 'timeout' | 'too-long',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a handshake from a socket in paused mode, so bytes past the handshake stay in the socket's buffer
 * for whoever pipes it next (a client may send data right behind its request). One deadline covers the
 * whole handshake.
 */
export class HandshakeReader {
  private readonly deadline: number;

  constructor(
    private readonly socket: Socket,
    timeoutMs: number,
    private readonly what: string,
  ) {
    this.deadline = Date.now() + timeoutMs;
  }

  /** Resolves with exactly `length` bytes. */
  readExactly(length: number): Promise<Buffer> {
    return this.waitFor(() => {
      const chunk = this.socket.read(length) as Buffer | null;
      if (chunk !== null && chunk.length < length) {
        throw new HandshakeReadError(
          'closed',
          `${this.what}: the connection ended in the middle of a message`,
        );
      }
      return chunk;
    });
  }

  /** Resolves with everything up to and including `terminator`, returning any bytes after it to the socket. */
  readUntil(terminator: string, maxBytes: number): Promise<Buffer> {
    let collected = Buffer.alloc(0);
    return this.waitFor(() => {
      const chunk = this.socket.read() as Buffer | null;
      if (chunk === null) return null;
      collected = Buffer.concat([collected, chunk]);
      const end = collected.indexOf(terminator);
      if (end === -1) {
        if (collected.length > maxBytes) {
          throw new HandshakeReadError('too-long', `${this.what}: longer than ${maxBytes} bytes`);
        }
        return null;
      }
      const stop = end + terminator.length;
      if (stop > maxBytes)
        throw new HandshakeReadError('too-long', `${this.what}: longer than ${maxBytes} bytes`);
      if (stop < collected.length) this.socket.unshift(collected.subarray(stop));
      return collected.subarray(0, stop);
    });
  }

  private waitFor(attempt: () => Buffer | null): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.socket.off('readable', onReadable);
        this.socket.off('end', onEnd);
        this.socket.off('close', onEnd);
        this.socket.off('error', onEnd);
      };
      const onReadable = (): void => {
        try {
          const result = attempt();
          if (result === null) return;
          cleanup();
          resolve(result);
        } catch (error) {
          cleanup();
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      };
      const onEnd = (): void => {
        cleanup();
        reject(
          new HandshakeReadError(
            'closed',
            `${this.what}: the connection closed before the message was complete`,
          ),
        );
      };
      const timer = setTimeout(
        () => {
          cleanup();
          reject(new HandshakeReadError('timeout', `${this.what}: timed out`));
        },
        Math.max(0, this.deadline - Date.now()),
      );
      this.socket.on('readable', onReadable);
      this.socket.on('end', onEnd);
      this.socket.on('close', onEnd);
      this.socket.on('error', onEnd);
      onReadable();
    });
  }
}
