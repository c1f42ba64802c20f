/**
 * Largest value `vault put` takes through the API: its base64 must fit the 64 KiB request body. The vault
 * itself holds up to 1 MiB, for hostd's own entries; owner secrets (keys, passphrases, tokens) are small.
 */
export const VAULT_VALUE_MAX_BYTES = 40 * 1024;
