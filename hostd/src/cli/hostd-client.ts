import { request } from 'node:http';
import { userInfo } from 'node:os';
import { API_PATH_PREFIX, CLIENT_USER_HEADER } from '../api/api-protocol.js';
import type { ApiErrorBody } from '../api/api-protocol.js';

/** hostd did not answer at all. */
export class HostdUnreachableError extends Error {
  override readonly name = 'HostdUnreachableError';

  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** hostd answered with an error. */
export class HostdCallError extends Error {
  override readonly name = 'HostdCallError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'local';
  }
}

export function unreachable(socketPath: string, error: NodeJS.ErrnoException): HostdUnreachableError {
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new HostdUnreachableError(
      'HOSTD_SOCKET_FORBIDDEN',
      `not allowed to connect to hostd at ${socketPath}`,
      'run mvctl as root or as a member of the socket’s group (root)',
    );
  }
  return new HostdUnreachableError(
    'HOSTD_NOT_RUNNING',
    `hostd is not running (${error.code ?? error.message} at ${socketPath})`,
    'start it with scripts/up.sh, or point mvctl at its socket with --socket PATH or MULTIVERSE_RUN_DIR',
  );
}

/** Calls one verb over hostd's unix socket and returns its result, or throws one of the errors above. */
export function callHostd(
  socketPath: string,
  verb: string,
  input: Record<string, unknown>,
): Promise<unknown> {
  const body = JSON.stringify(input);
  return new Promise((resolve, reject) => {
    const call = request(
      {
        socketPath,
        path: `${API_PATH_PREFIX}${verb}`,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          [CLIENT_USER_HEADER]: localUserName(),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(
              new HostdCallError(
                status,
                'HOSTD_ANSWER_INVALID',
                `hostd answered ${status} without JSON`,
                'check hostd’s log',
              ),
            );
            return;
          }
          if (status === 200 && typeof parsed === 'object' && parsed !== null && 'result' in parsed) {
            resolve(parsed.result);
            return;
          }
          const error = (parsed as Partial<ApiErrorBody>).error;
          reject(
            new HostdCallError(
              status,
              error?.code ?? 'HOSTD_ANSWER_INVALID',
              error?.message ?? `hostd answered ${status}`,
              error?.hint ?? 'check hostd’s log',
            ),
          );
        });
      },
    );
    call.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        ['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK'].includes(error.code ?? '')
          ? unreachable(socketPath, error)
          : error,
      );
    });
    call.end(body);
  });
}
