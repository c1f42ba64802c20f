import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, chown, rename, rm, stat } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { Duplex } from 'node:stream';
import { ServiceError, USER_NAME_PATTERN, isStreamVerb, isVerbName } from '../service/index.js';
import type { Actor, HostService } from '../service/index.js';
import { API_PATH_PREFIX, CLIENT_USER_HEADER, HTTP_STATUS_BY_KIND } from './api-protocol.js';
import type { ApiErrorBody } from './api-protocol.js';
import { handleStreamUpgrade } from './stream-upgrade.js';
import { RequestBodyError, readJsonObjectBody } from './request-body.js';

export class ApiServerError extends Error {
  override readonly name = 'ApiServerError';

  constructor(
    readonly code: 'API_SOCKET_IN_USE' | 'API_LISTEN_FAILED',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Whether something accepts connections at `path` (a running hostd), as opposed to a stale file or nothing. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Called before hostd touches its state, so a second hostd cannot disturb the tasks of the first. */
export async function refuseIfAnotherHostdAnswers(socketPath: string): Promise<void> {
  if (await socketAnswers(socketPath)) {
    throw new ApiServerError(
      'API_SOCKET_IN_USE',
      `another hostd answers on ${socketPath}: stop it first (scripts/up.sh restarts hostd)`,
    );
  }
}

/** How an API socket other than hostd's own (a jail session's) is reached, and who its peers are. */
export interface ApiServerOptions {
  /** Who every request is; default: the local owner. A jail session's socket answers for its user alone. */
  readonly actor?: (request: IncomingMessage) => Actor;
  /** Mode and owner of the socket; default 0660, group root. */
  readonly socketAccess?: { readonly mode: number; readonly uid: number; readonly gid: number };
}

/**
 * hostd's JSON API on a unix socket: `POST /v1/<verb>`, one route per service verb. The socket is mode 0660,
 * group root: whoever can connect is trusted as the local owner (the SSH jail and the web listener get their
 * own doors with authentication).
 */
export class ApiServer {
  private server: Server | undefined;
  private socketPath: string | undefined;
  private socketInode: number | undefined;

  constructor(
    private readonly service: HostService,
    private readonly logger: Logger,
    private readonly options: ApiServerOptions = {},
  ) {}

  /**
   * Binds under a temporary name, sets mode and group, then renames into place: the socket never exists
   * at its real path with a looser mode, and a stale socket left by a killed hostd is replaced atomically.
   */
  async listen(socketPath: string): Promise<void> {
    await refuseIfAnotherHostdAnswers(socketPath);
    const temporary = `${socketPath}.${process.pid}.binding`;
    await rm(temporary, { force: true });
    const server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000 }, (request, response) => {
      void this.handle(request, response);
    });
    server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
      void handleStreamUpgrade(this.service, this.actorOf(request), request, socket, this.logger);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(temporary, () => {
          server.off('error', reject);
          resolve();
        });
      });
      await chmod(temporary, this.options.socketAccess?.mode ?? 0o660);
      const access = this.options.socketAccess;
      if (access !== undefined) await chown(temporary, access.uid, access.gid);
      try {
        if (access === undefined) await chown(temporary, -1, 0);
      } catch (error) {
        this.logger.warn('cannot give the API socket to group root; it keeps hostd’s group', {
          error: (error as Error).message,
        });
      }
      this.socketInode = (await stat(temporary)).ino;
      await rename(temporary, socketPath);
    } catch (error) {
      server.close();
      await rm(temporary, { force: true });
      throw new ApiServerError(
        'API_LISTEN_FAILED',
        `cannot listen on ${socketPath}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    this.server = server;
    this.socketPath = socketPath;
    this.logger.info('API listening', { socket: socketPath });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    // Remove the socket only if it is still ours: a newer hostd may have taken the path over.
    if (this.socketPath !== undefined) {
      const current = await stat(this.socketPath).catch(() => undefined);
      if (current?.ino === this.socketInode) await rm(this.socketPath, { force: true });
    }
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = request.url ?? '/';
    try {
      const verb = url.startsWith(API_PATH_PREFIX) ? url.slice(API_PATH_PREFIX.length) : '';
      // Verb names are plain ASCII (`vm.list`): anything else is not a route, so nothing needs decoding.
      if (!/^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/.test(verb)) {
        return this.sendError(
          response,
          404,
          new ServiceError(
            'not-found',
            'ROUTE_NOT_FOUND',
            `no route ${url}`,
            `call POST ${API_PATH_PREFIX}<verb>`,
          ),
        );
      }
      if (request.method !== 'POST') {
        response.setHeader('allow', 'POST');
        return this.sendError(
          response,
          405,
          new ServiceError(
            'invalid-input',
            'METHOD_NOT_ALLOWED',
            `${request.method} is not allowed here`,
            'use POST',
          ),
        );
      }
      if (isVerbName(verb) && isStreamVerb(verb)) {
        return this.sendError(
          response,
          400,
          new ServiceError(
            'invalid-input',
            'STREAM_VERB',
            `${verb} answers with a byte stream, not JSON`,
            'upgrade the connection (mvctl does: `mvctl vm console NAME`)',
          ),
        );
      }
      const input = await readJsonObjectBody(request);
      const result = await this.service.call(
        this.actorOf(request),
        verb as Parameters<HostService['call']>[1],
        input,
      );
      this.send(response, 200, { result });
    } catch (error) {
      if (error instanceof RequestBodyError) return this.sendError(response, error.status, error);
      if (error instanceof ServiceError)
        return this.sendError(response, HTTP_STATUS_BY_KIND[error.kind], error);
      this.logger.error('API request failed', { url, error: (error as Error).stack ?? String(error) });
      this.sendError(
        response,
        500,
        new ServiceError(
          'internal',
          'INTERNAL_ERROR',
          'hostd failed to answer',
          'hostd’s log has the details',
        ),
      );
    }
  }

  /** The peer of this socket is the local owner; the user name it reports only labels the audit rows. */
  private actorOf(request: IncomingMessage): Actor {
    return this.options.actor?.(request) ?? this.localOwner(request);
  }

  private localOwner(request: IncomingMessage): Actor {
    const claimed = request.headers[CLIENT_USER_HEADER];
    const user = typeof claimed === 'string' && USER_NAME_PATTERN.test(claimed) ? claimed : 'local';
    return { user, role: 'owner', via: 'cli' };
  }

  private sendError(response: ServerResponse, status: number, error: ServiceError): void {
    const body: ApiErrorBody = { error: error.toJSON() };
    this.send(response, status, body);
  }

  private send(response: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    response.end(text);
  }
}
