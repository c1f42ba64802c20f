export * from './disks/index.js';
export * from './state/index.js';
export * from './audit/index.js';
export * from './tasks/index.js';
export * from './service/index.js';
export * from './api/index.js';
export * from './cpu-plan/index.js';
