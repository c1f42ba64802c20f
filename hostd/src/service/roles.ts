/** Who may do what, from most to least: the owner, an operator (runs VMs), a viewer (reads). */
export const ROLES = ['owner', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
