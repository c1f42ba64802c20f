import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  API_PATH_PREFIX,
  CLIENT_USER_HEADER,
  STREAM_INPUT_HEADER,
  STREAM_UPGRADE_PROTOCOL,
} from '../api/api-protocol.js';
import type { ApiErrorBody } from '../api/api-protocol.js';
import { HostdCallError, localUserName, unreachable } from './hostd-client.js';

/** Where a console's bytes come from and go to: the user's terminal, or a jail session's pty. */
export interface StreamTerminal {
  readonly input: NodeJS.ReadableStream & {
    isTTY?: boolean;
    isRaw?: boolean;
    setRawMode?: (raw: boolean) => unknown;
  };
  readonly output: NodeJS.WritableStream;
}

/** Ctrl-], as virsh console uses: the one byte that is never passed on, but detaches. */
export const DETACH_BYTE = 0x1d;

/** Opens a stream verb (`vm.console`) over hostd's socket: the upgraded connection, or an error from hostd. */
export function openStream(
  socketPath: string,
  verb: string,
  input: Record<string, unknown>,
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const call = request({
      socketPath,
      path: `${API_PATH_PREFIX}${verb}`,
      method: 'POST',
      headers: {
        connection: 'Upgrade',
        upgrade: STREAM_UPGRADE_PROTOCOL,
        [STREAM_INPUT_HEADER]: JSON.stringify(input),
        [CLIENT_USER_HEADER]: localUserName(),
      },
    });
    call.on('upgrade', (_response, socket) => resolve(socket));
    call.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        let error: ApiErrorBody['error'] | undefined;
        try {
          error = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<ApiErrorBody>).error;
        } catch {
          error = undefined;
        }
        reject(
          new HostdCallError(
            status,
            error?.code ?? 'HOSTD_ANSWER_INVALID',
            error?.message ?? `hostd answered ${status} instead of opening the stream`,
            error?.hint ?? 'check hostd’s log',
          ),
        );
      });
    });
    call.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        ['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK'].includes(error.code ?? '')
          ? unreachable(socketPath, error)
          : error,
      );
    });
    call.end();
  });
}

/**
 * Joins a stream to a terminal until the stream ends (`ended`: the VM stopped, or another client forced the
 * console away) or the user types the detach byte (`detached`). A TTY is put in raw mode meanwhile, so
 * keys such as Ctrl-C reach the guest instead of ending mvctl.
 */
export function joinTerminal(stream: Duplex, terminal: StreamTerminal): Promise<'detached' | 'ended'> {
  const { input, output } = terminal;
  // A terminal already raw (a jail session's pty) stays raw: never cooked, even for a moment, after.
  const raw = input.isTTY === true && typeof input.setRawMode === 'function' && input.isRaw !== true;
  if (raw) input.setRawMode?.(true);
  return new Promise((resolve) => {
    let finished = false;
    const finish = (how: 'detached' | 'ended'): void => {
      if (finished) return;
      finished = true;
      input.off('data', onInput);
      input.off('end', onInputEnd);
      stream.off('data', onOutput);
      if (raw) input.setRawMode?.(false);
      input.pause();
      stream.destroy();
      resolve(how);
    };
    const onInput = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const detach = bytes.indexOf(DETACH_BYTE);
      if (detach === -1) {
        stream.write(bytes);
        return;
      }
      if (detach > 0) stream.write(bytes.subarray(0, detach));
      finish('detached');
    };
    const onOutput = (chunk: Buffer): void => {
      output.write(chunk);
    };
    const onInputEnd = (): void => finish('detached');
    input.on('data', onInput);
    input.once('end', onInputEnd);
    stream.on('data', onOutput);
    stream.once('close', () => finish('ended'));
    stream.once('error', () => finish('ended'));
    input.resume();
  });
}
