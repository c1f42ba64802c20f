import type { z } from 'zod';
import { auditVerbs } from './audit-verbs.js';
import { hostVerbs } from './host-verbs.js';
import { onionVerbs } from './onion-verbs.js';
import { imageVerbs } from './image-verbs.js';
import { taskVerbs } from './task-verbs.js';
import { userVerbs } from './user-verbs.js';
import { vaultVerbs } from './vault-verbs.js';
import { vmVerbs } from './vm-verbs.js';

/**
 * Every verb hostd offers, by name. A new capability (vm start, vm checkpoint…) is one entry here and one
 * line in the policy; the API and the jail pick it up from this table.
 */
export const VERBS = {
  ...hostVerbs,
  ...vmVerbs,
  ...imageVerbs,
  ...taskVerbs,
  ...auditVerbs,
  ...vaultVerbs,
  ...onionVerbs,
  ...userVerbs,
};

export type VerbName = keyof typeof VERBS;
type VerbOf<Name extends VerbName> = (typeof VERBS)[Name];
/** What a caller may send (before defaults are filled in). */
export type VerbInput<Name extends VerbName> = z.input<VerbOf<Name>['input']>;
export type VerbOutput<Name extends VerbName> = Awaited<ReturnType<VerbOf<Name>['run']>>;

export const VERB_NAMES = Object.keys(VERBS) as VerbName[];

export function isVerbName(name: string): name is VerbName {
  return Object.hasOwn(VERBS, name);
}

/** Verbs whose output is a byte stream, reached through an upgrade of the API connection. */
export function isStreamVerb(name: VerbName): boolean {
  return (VERBS[name] as { readonly transport?: 'stream' }).transport === 'stream';
}
