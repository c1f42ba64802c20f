export * from './disks/index.js';
export * from './state/index.js';
export * from './audit/index.js';
export * from './tasks/index.js';
export * from './service/index.js';
export * from './api/index.js';
// The API's client, as mvctl calls it (the bench drives hostd with it too).
export { HostdCallError, HostdUnreachableError, callHostd } from './cli/hostd-client.js';
export * from './cpu-plan/index.js';
