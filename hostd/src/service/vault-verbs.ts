import { ENTRY_NAME_RULE, isEntryName, parseShareText } from '@multiverse/keyvault';
import { z } from 'zod';
import type {
  FollowerProblem,
  HandedShare,
  UnsealOutcome,
  VaultEntrySummary,
  VaultService,
  VaultStatusReport,
} from '../vault/index.js';
import { ServiceError } from './service-error.js';
import { VAULT_VALUE_MAX_BYTES } from './vault-limits.js';
import { defineVerb } from './verb.js';
import type { VerbContext } from './verb.js';

/** A share's text is ~0.5 KiB (11 lines when encrypted) plus comments; this bounds what is parsed. */
const SHARE_TEXT_MAX_CHARS = 8 * 1024;
const MAX_CUSTODIANS = 255;

const entryName = z.string().refine(isEntryName, { message: `an entry name: ${ENTRY_NAME_RULE}` });
const rekeyId = z.string().regex(/^[0-9a-f]{16}$/, { message: 'a rekey id: 16 lowercase hex digits' });
const custodian = z.strictObject({
  name: z
    .string()
    .regex(/^[^\p{Cc}\p{Cf}]{1,64}$/u, { message: '1-64 printable characters' })
    .refine((name) => name.trim() === name, { message: 'no leading or trailing space' }),
  /** The custodian's X25519 key (`MVPUB-…`): their share is sealed to it. */
  publicKey: z
    .string()
    .regex(/^MVPUB-[0-9A-Za-z-]{20,120}$/, { message: 'a custodian public key: MVPUB- then base32' })
    .optional(),
});
const shareSet = z
  .strictObject({
    /** How many shares; must equal the number of custodians (one each). */
    shares: z.number().int().min(2).max(MAX_CUSTODIANS).optional(),
    threshold: z.number().int().min(2).max(MAX_CUSTODIANS),
    custodians: z.array(custodian).min(2).max(MAX_CUSTODIANS),
  })
  .refine((input) => input.shares === undefined || input.shares === input.custodians.length, {
    message: 'name one custodian per share',
    path: ['custodians'],
  })
  .refine((input) => input.threshold <= input.custodians.length, {
    message: 'the threshold cannot exceed the number of shares',
    path: ['threshold'],
  })
  .refine((input) => new Set(input.custodians.map(({ name }) => name)).size === input.custodians.length, {
    message: 'each custodian is named once',
    path: ['custodians'],
  });
type ShareSetInput = z.infer<typeof shareSet>;

/** Who got a share and whether it is sealed to them; never a key or a share. */
function shareSetAudit(input: ShareSetInput): Record<string, unknown> {
  return {
    threshold: input.threshold,
    shares: input.custodians.length,
    custodians: input.custodians.map(({ name, publicKey }) => ({
      name,
      sealedToKey: publicKey !== undefined,
    })),
  };
}

function vaultOf(context: VerbContext): VaultService {
  if (context.vault === undefined) {
    throw new ServiceError(
      'unavailable',
      'VAULT_UNAVAILABLE',
      'this hostd runs without a vault',
      'the daemon gives its service a vault at start; this is a test or embedding that did not',
    );
  }
  return context.vault;
}

/** The share's index as its label says (printed in clear on every share), for the audit row; null if unreadable. */
function shareIndexOf(text: string): number | null {
  try {
    return parseShareText(text).index;
  } catch {
    return null;
  }
}

export const vaultVerbs = {
  'vault.status': defineVerb({
    summary: 'whether there is a vault, sealed or not, unseal progress, its id, K of N and number of entries',
    input: z.strictObject({}),
    target: () => 'vault',
    run: (context): Promise<VaultStatusReport> => Promise.resolve(vaultOf(context).status()),
  }),
  'vault.init': defineVerb({
    summary: 'create the vault: a new key, split into one share per custodian (any threshold of them unseal)',
    input: shareSet,
    target: () => 'vault',
    auditDetails: shareSetAudit,
    run: async (
      context,
      input,
    ): Promise<{ status: VaultStatusReport; shares: HandedShare[]; problems: FollowerProblem[] }> => {
      const vault = vaultOf(context);
      const { shares, problems } = await vault.init(input);
      return { status: vault.status(), shares, problems };
    },
  }),
  'vault.unseal': defineVerb({
    summary: 'give one custodian’s share; at the threshold the vault unseals',
    input: z.strictObject({
      share: z.string().min(1).max(SHARE_TEXT_MAX_CHARS),
      /** The holder's private key (`MVSECRET-…`), for a share sealed to them. */
      privateKey: z
        .string()
        .regex(/^MVSECRET-[0-9A-Za-z-]{20,120}$/, {
          message: 'a custodian private key: MVSECRET- then base32',
        })
        .optional(),
    }),
    target: () => 'vault',
    // The share and the private key are the secrets; which share was given is printed on it in clear.
    auditDetails: (input) => ({
      shareIndex: shareIndexOf(input.share),
      withPrivateKey: input.privateKey !== undefined,
    }),
    run: (context, input): Promise<UnsealOutcome> =>
      vaultOf(context).submitShare(input.share, input.privateKey),
  }),
  'vault.seal': defineVerb({
    summary: 'forget the vault’s key (and any shares given so far); libvirt loses the disk keys',
    input: z.strictObject({}),
    target: () => 'vault',
    run: (context) => vaultOf(context).seal(),
  }),
  'vault.rekey-prepare': defineVerb({
    summary:
      'make a new share set (new custodians, threshold) for the same key; nothing changes until commit',
    input: shareSet,
    target: () => 'vault',
    auditDetails: shareSetAudit,
    run: (context, input) => vaultOf(context).prepareRekey(input),
  }),
  'vault.rekey-commit': defineVerb({
    summary: 'switch the vault to the prepared share set: from now on only the new shares unseal it',
    input: z.strictObject({ rekeyId }),
    target: () => 'vault',
    run: (context, input) => vaultOf(context).commitRekey(input.rekeyId),
  }),
  'vault.rekey-discard': defineVerb({
    summary: 'drop a prepared rekey; its shares are void',
    input: z.strictObject({ rekeyId }),
    target: () => 'vault',
    run: (context, input) => Promise.resolve(vaultOf(context).discardRekey(input.rekeyId)),
  }),
  'vault.rotate': defineVerb({
    summary: 'a new master key, every entry re-encrypted under it; the shares stay valid',
    input: z.strictObject({}),
    target: () => 'vault',
    run: (context) => vaultOf(context).rotate(),
  }),
  'vault.accept-rollback': defineVerb({
    summary:
      'accept the vault file there now (older than, or another vault than, the newest seen) as the one to use',
    input: z.strictObject({ generation: z.number().int().positive().max(0xffffffff) }),
    target: () => 'vault',
    run: (context, input) => vaultOf(context).acceptRollback(input.generation),
  }),
  'vault.list': defineVerb({
    summary: 'the entries: names, sizes, times (no values)',
    input: z.strictObject({}),
    target: () => 'vault',
    run: (context): Promise<{ entries: VaultEntrySummary[] }> =>
      Promise.resolve({ entries: vaultOf(context).list() }),
  }),
  'vault.get': defineVerb({
    summary: 'one entry’s value (base64)',
    input: z.strictObject({ name: entryName }),
    target: (input) => `vault/${input.name}`,
    auditDetails: (input) => ({ name: input.name }),
    run: (context, input): Promise<{ name: string; size: number; value: string }> => {
      const value = vaultOf(context).get(input.name);
      try {
        return Promise.resolve({ name: input.name, size: value.byteLength, value: value.toString('base64') });
      } finally {
        value.fill(0);
      }
    },
  }),
  'vault.put': defineVerb({
    summary: 'add or replace an entry (value in base64)',
    input: z.strictObject({
      name: entryName,
      value: z.base64({ message: 'the value in base64' }).max(Math.ceil(VAULT_VALUE_MAX_BYTES / 3) * 4, {
        message: `at most ${VAULT_VALUE_MAX_BYTES} bytes (before base64)`,
      }),
    }),
    target: (input) => `vault/${input.name}`,
    // Never the value: its size is all the audit log keeps.
    auditDetails: (input) => ({ name: input.name, size: Buffer.byteLength(input.value, 'base64') }),
    run: async (context, input) => {
      const value = Buffer.from(input.value, 'base64');
      try {
        return await vaultOf(context).put(input.name, value);
      } finally {
        value.fill(0);
      }
    },
  }),
  'vault.delete': defineVerb({
    summary: 'delete an entry',
    input: z.strictObject({ name: entryName }),
    target: (input) => `vault/${input.name}`,
    run: (context, input) => vaultOf(context).delete(input.name),
  }),
};
