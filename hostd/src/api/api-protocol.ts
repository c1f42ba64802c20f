import type { ServiceErrorKind } from '../service/index.js';

/**
 * The wire contract between hostd's API and its clients (mvctl today): `POST /v1/<verb>` with the verb's
 * input as a JSON object; `200 { result }` or an error status with `{ error: { code, message, hint } }`.
 */
export const API_PATH_PREFIX = '/v1/';
export const API_SOCKET_FILE = 'hostd.sock';
/** The local user name mvctl reports, for the audit log (not a credential: see the README). */
export const CLIENT_USER_HEADER = 'x-multiverse-user';
export const MAX_REQUEST_BODY_BYTES = 64 * 1024;

export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly hint: string };
}

export interface ApiResultBody<Result> {
  readonly result: Result;
}

export const HTTP_STATUS_BY_KIND: Readonly<Record<ServiceErrorKind, number>> = {
  'invalid-input': 400,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  internal: 500,
  upstream: 502,
  unavailable: 503,
};

/**
 * Stream verbs (`vm.console`): `POST /v1/<verb>` with `Connection: Upgrade`, `Upgrade: STREAM_UPGRADE_PROTOCOL`
 * and the input as JSON in the STREAM_INPUT_HEADER header; `101` and then raw bytes both ways, or an error
 * status with the usual JSON error body.
 */
export const STREAM_UPGRADE_PROTOCOL = 'multiverse-stream';
export const STREAM_INPUT_HEADER = 'x-multiverse-input';
export const MAX_STREAM_INPUT_BYTES = 4096;
