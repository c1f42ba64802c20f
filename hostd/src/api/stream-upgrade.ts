import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { ServiceError, isStreamVerb, isVerbName } from '../service/index.js';
import type { Actor, HostService } from '../service/index.js';
import {
  API_PATH_PREFIX,
  HTTP_STATUS_BY_KIND,
  MAX_STREAM_INPUT_BYTES,
  STREAM_INPUT_HEADER,
  STREAM_UPGRADE_PROTOCOL,
} from './api-protocol.js';
import type { ApiErrorBody } from './api-protocol.js';

function refuse(socket: Duplex, status: number, error: ServiceError): void {
  const body = JSON.stringify({ error: error.toJSON() } satisfies ApiErrorBody);
  socket.end(
    `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'Error'}\r\n` +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function badRequest(code: string, message: string, hint: string): ServiceError {
  return new ServiceError('invalid-input', code, message, hint);
}

function readInput(request: IncomingMessage): unknown {
  const header = request.headers[STREAM_INPUT_HEADER];
  if (typeof header !== 'string' || header.length === 0) return {};
  if (Buffer.byteLength(header) > MAX_STREAM_INPUT_BYTES) {
    throw badRequest(
      'INPUT_TOO_LARGE',
      `the ${STREAM_INPUT_HEADER} header is over ${MAX_STREAM_INPUT_BYTES} bytes`,
      'send less',
    );
  }
  try {
    return JSON.parse(header) as unknown;
  } catch {
    throw badRequest('INPUT_NOT_JSON', `the ${STREAM_INPUT_HEADER} header is not JSON`, 'send a JSON object');
  }
}

/**
 * Turns an upgraded API connection into the byte stream of a stream verb: the service checks the actor's
 * role and the input and writes the audit row, as for every verb; then bytes flow both ways until either
 * side ends. The stream is torn down when the client goes away, so a console is never left held.
 */
export async function handleStreamUpgrade(
  service: HostService,
  actor: Actor,
  request: IncomingMessage,
  socket: Duplex,
  logger: Logger,
): Promise<void> {
  socket.on('error', () => socket.destroy());
  let stream: Duplex;
  try {
    const verb = (request.url ?? '').startsWith(API_PATH_PREFIX)
      ? (request.url ?? '').slice(API_PATH_PREFIX.length)
      : '';
    if (request.headers.upgrade?.toLowerCase() !== STREAM_UPGRADE_PROTOCOL) {
      throw badRequest(
        'UPGRADE_UNKNOWN',
        `hostd upgrades only to ${STREAM_UPGRADE_PROTOCOL}`,
        'fix the Upgrade header',
      );
    }
    if (!isVerbName(verb) || !isStreamVerb(verb)) {
      throw badRequest(
        'NOT_A_STREAM_VERB',
        `${verb.slice(0, 64)} is not a stream verb`,
        'call it as JSON: POST without an upgrade',
      );
    }
    stream = (await service.call(actor, verb, readInput(request))) as Duplex;
  } catch (error) {
    if (error instanceof ServiceError) return refuse(socket, HTTP_STATUS_BY_KIND[error.kind], error);
    logger.error('stream upgrade failed', {
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    return refuse(
      socket,
      500,
      new ServiceError('internal', 'INTERNAL_ERROR', 'hostd failed to answer', 'hostd’s log has the details'),
    );
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${STREAM_UPGRADE_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`,
  );
  const close = (): void => {
    stream.destroy();
    socket.destroy();
  };
  stream.on('error', close);
  stream.on('close', close);
  socket.on('close', close);
  stream.pipe(socket);
  socket.pipe(stream);
}
