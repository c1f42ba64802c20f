import { z } from 'zod';
import { ROLES } from './roles.js';
import type { Role } from './roles.js';

export { ROLES } from './roles.js';
export type { Role } from './roles.js';

/** The front end a call came through. */
export const VIAS = ['cli', 'ssh', 'web'] as const;
export type Via = (typeof VIAS)[number];

/** Who calls a verb: the front end has authenticated the user and knows their role. */
export interface Actor {
  readonly user: string;
  readonly role: Role;
  readonly via: Via;
}

export const USER_NAME_PATTERN = /^[a-z_][a-z0-9_.-]{0,31}$/;

export const actorSchema = z.strictObject({
  user: z.string().regex(USER_NAME_PATTERN, 'a user name: lowercase letters, digits, _ . -, at most 32'),
  role: z.enum(ROLES),
  via: z.enum(VIAS),
});
