import { VaultError } from './errors.js';

/**
 * Entry names are path-like keys chosen by hostd and the owner (`luks/<vm-uuid>`,
 * `wireguard/router-tor`, `onion/call-home`). Printable ASCII only, so a name in a log line or a
 * terminal cannot smuggle control characters.
 */
const ENTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@+/-]{0,254}$/;

export function validateEntryName(name: unknown): string {
  if (typeof name !== 'string' || !ENTRY_NAME.test(name) || name.includes('//') || name.endsWith('/')) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `Invalid entry name ${JSON.stringify(name)}: use 1-255 characters from A-Z a-z 0-9 . _ : @ + - /, ` +
        'starting with a letter or digit, with no empty path segment.',
    );
  }
  return name;
}
