import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ServiceError } from '../service/index.js';
import { MAX_REQUEST_BODY_BYTES } from './api-protocol.js';

/** A request whose body cannot be accepted: carries its own HTTP status. */
export class RequestBodyError extends ServiceError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    hint: string,
  ) {
    super('invalid-input', code, message, hint);
  }
}

const bodySchema = z.record(z.string(), z.unknown(), { error: 'the body must be a JSON object' });

/** Reads and checks the body: JSON content type, at most MAX_REQUEST_BODY_BYTES, a JSON object. Empty is `{}`. */
export async function readJsonObjectBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_REQUEST_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  if (size === 0) return {};
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/json') {
    throw new RequestBodyError(
      415,
      'CONTENT_TYPE_UNSUPPORTED',
      `the body is ${contentType === '' ? 'untyped' : contentType}, not application/json`,
      'send the verb’s input as JSON with Content-Type: application/json',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new RequestBodyError(
      400,
      'BODY_NOT_JSON',
      `the body is not JSON: ${(error as Error).message}`,
      'send a JSON object',
    );
  }
  const checked = bodySchema.safeParse(parsed);
  if (!checked.success || Array.isArray(parsed)) {
    throw new RequestBodyError(
      400,
      'BODY_NOT_OBJECT',
      'the body must be a JSON object',
      'send the verb’s input as {…}',
    );
  }
  return checked.data;
}

function tooLarge(): RequestBodyError {
  return new RequestBodyError(
    413,
    'BODY_TOO_LARGE',
    `the body is larger than ${MAX_REQUEST_BODY_BYTES} bytes`,
    'no verb takes that much input; check what is being sent',
  );
}
