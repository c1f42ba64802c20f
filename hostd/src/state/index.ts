export { openStateDatabase, STATE_DATABASE_FILE } from './state-database.js';
export type { OpenStateDatabaseOptions, StateDatabase } from './state-database.js';
export { applyMigrations } from './migrations.js';
export type { Migration } from './migrations.js';
export { HOSTD_MIGRATIONS } from './hostd-schema.js';
export { StateError } from './state-error.js';
export type { StateErrorCode } from './state-error.js';
