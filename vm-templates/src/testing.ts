// Test support other packages' tests share: reading a guest's serial console line by line.
export { ConsoleTimeoutError, GuestConsole } from './images/test-support/guest-console.js';
export type { ConsoleCommandResult } from './images/test-support/guest-console.js';
