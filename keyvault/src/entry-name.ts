import { VaultError } from './errors.js';

/**
 * Entry names are path-like keys chosen by hostd and the owner (`luks/<vm-uuid>`,
 * `wireguard/router-tor`, `onion/call-home`). Printable ASCII only, so a name in a log line or a
 * terminal cannot smuggle control characters.
 */
const ENTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@+/-]{0,254}$/;

/** The rule as front ends show it next to a refused name. */
export const ENTRY_NAME_RULE =
  '1-255 characters from A-Z a-z 0-9 . _ : @ + - /, starting with a letter or digit, with no empty path segment';

/** Whether a name is a valid entry name, for validating input at a front end's edge. */
export function isEntryName(name: unknown): name is string {
  return typeof name === 'string' && ENTRY_NAME.test(name) && !name.includes('//') && !name.endsWith('/');
}

export function validateEntryName(name: unknown): string {
  if (!isEntryName(name)) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `Invalid entry name ${JSON.stringify(name)}: use ${ENTRY_NAME_RULE}.`,
    );
  }
  return name;
}
