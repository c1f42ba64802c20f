export * from './disks/index.js';
