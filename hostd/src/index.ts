export * from './disks/index.js';
export * from './cpu-plan/index.js';
