export { ApiServer, ApiServerError, refuseIfAnotherHostdAnswers } from './api-server.js';
export type { ApiServerOptions } from './api-server.js';
export {
  API_PATH_PREFIX,
  API_SOCKET_FILE,
  CLIENT_USER_HEADER,
  HTTP_STATUS_BY_KIND,
  MAX_REQUEST_BODY_BYTES,
  STREAM_INPUT_HEADER,
  STREAM_UPGRADE_PROTOCOL,
} from './api-protocol.js';
export type { ApiErrorBody, ApiResultBody } from './api-protocol.js';
