export { JailFrontDoor, JAIL_SANDBOX_USER, JAIL_USERS_FILE } from './jail-front-door.js';
export type { JailFrontDoorOptions } from './jail-front-door.js';
export type { JailUserAdministration, JailUserView } from './jail-users.js';
export { SESSION_SOCKET_INSIDE } from './jail-session-launcher.js';
