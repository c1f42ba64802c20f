export { WebServer } from './web-server.js';
export type { WebServerOptions } from './web-server.js';
export type { RateLimit } from './client-rate-limiter.js';
