import { mkdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCustodianKeyPair } from '@multiverse/keyvault/custodian-keys';
import { parseShareText, shareTextProgress } from '@multiverse/keyvault/share-text';
import type { VerbName, VerbOutput } from '../service/index.js';
import { VAULT_VALUE_MAX_BYTES } from '../service/vault-limits.js';
import type { FollowerProblem, HandedShare, VaultStatusReport } from '../vault/index.js';
import type { CommandInputContext, FilelessFrontEnd, TerminalQuestion } from './command-input.js';
import type { ArgumentSpec, Command, LocalCommand, ParsedValues, RemoteCommand } from './commands.js';
import { formatTime } from './human-units.js';
import { readLocalInput } from './local-input.js';
import type { OptionSpec } from './command-options.js';
import {
  prepareShareDirectory,
  refuseExistingShareFiles,
  shareFilePaths,
  writeShareFiles,
} from './share-files.js';
import type { WrittenShare } from './share-files.js';
import { formatFields, formatTable } from './table.js';
import { UsageError } from './usage-error.js';

/** A share's text is ~0.5 KiB; a key file a line. Anything much larger is the wrong file. */
const SHARE_FILE_MAX_BYTES = 8 * 1024;
const KEY_FILE_MAX_BYTES = 1024;

/**
 * A vault command: like commands.ts's `remote`, with what `receive` returns (`Shown`) being what is printed.
 * The one cast is here, as there: each command's types are checked where it is written.
 */
function vaultCommand<Name extends VerbName, Shown = VerbOutput<Name>>(command: {
  name: string;
  verb: Name;
  summary: string;
  arguments: readonly ArgumentSpec[];
  options: readonly OptionSpec[];
  input(
    positionals: readonly string[],
    values: ParsedValues,
    context: CommandInputContext,
  ): Record<string, unknown> | Promise<Record<string, unknown>>;
  receive?(result: VerbOutput<Name>, values: ParsedValues): Promise<Shown>;
  render(shown: Shown): string;
}): RemoteCommand {
  return { kind: 'remote', group: 'vault', ...command } as unknown as RemoteCommand;
}

function noArguments(positionals: readonly string[], command: string): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, command);
}

function stringOption(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function countOption(values: ParsedValues, name: string, command: string): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!/^[1-9]\d{0,2}$/.test(text))
    throw new UsageError(`--${name} takes a whole number, not "${text}"`, command);
  return Number(text);
}

function problemLines(problems: readonly FollowerProblem[]): string {
  return problems.map((problem) => `warning: ${problem.follower}: ${problem.message}\n`).join('');
}

const SHARE_SET_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'threshold',
    short: 'k',
    type: 'string',
    value: 'K',
    description: 'how many shares unseal the vault (at least 2)',
  },
  {
    name: 'shares',
    short: 'n',
    type: 'string',
    value: 'N',
    description: 'how many shares (optional: one per custodian; checked against the custodians named)',
  },
  {
    name: 'out',
    type: 'string',
    value: 'DIR',
    description: 'write each share as share-SET-INDEX-NAME.txt and .svg (QR code) into DIR, mode 0600',
  },
  {
    name: 'print',
    type: 'boolean',
    description: 'also print the shares’ text (careful: the terminal keeps it)',
  },
];

const CUSTODIANS_ARGUMENT: ArgumentSpec = {
  name: 'CUSTODIAN…',
  description:
    'one per share: NAME, or NAME=PUBKEYFILE to seal that share to the custodian’s key (`mvctl vault keygen`)',
};

/** `alice`, `bob=/path/bob.pub` → custodians for the verb, reading each public key file. */
async function custodiansOf(
  positionals: readonly string[],
  command: string,
): Promise<{ name: string; publicKey?: string }[]> {
  if (positionals.length < 2) throw new UsageError('name at least two custodians, one per share', command);
  return Promise.all(
    positionals.map(async (spec) => {
      const split = spec.indexOf('=');
      if (split < 0) return { name: spec };
      const name = spec.slice(0, split);
      const file = spec.slice(split + 1);
      const text = (await readLocalInput(file, `${name}’s public key`, KEY_FILE_MAX_BYTES, command)).toString(
        'utf8',
      );
      const key = text
        .split('\n')
        .map((line) => line.trim())
        .find((line) => line !== '' && !line.startsWith('#'));
      if (key === undefined || !/^MVPUB-/i.test(key)) {
        throw new UsageError(`${file} holds no custodian public key (a line MVPUB-…)`, command);
      }
      return { name, publicKey: key };
    }),
  );
}

async function shareSetInput(
  positionals: readonly string[],
  values: ParsedValues,
  command: string,
): Promise<Record<string, unknown>> {
  const threshold = countOption(values, 'threshold', command);
  if (threshold === undefined) throw new UsageError('missing --threshold K', command);
  const out = stringOption(values, 'out');
  if (out === undefined && values['print'] !== true) {
    throw new UsageError('say where the shares go: --out DIR (and/or --print)', command);
  }
  const custodians = await custodiansOf(positionals, command);
  if (out !== undefined) await prepareShareDirectory(out, command);
  return { threshold, shares: countOption(values, 'shares', command), custodians };
}

/** What `vault init` and `vault rekey-prepare` print instead of the shares (unless --print). */
interface HandedOut {
  readonly shareSet: number;
  readonly written: WrittenShare[] | null;
  /** Only with --print. */
  readonly texts: { readonly custodian: string; readonly index: number; readonly text: string }[] | null;
}

async function handOut(
  shareSet: number,
  shares: readonly HandedShare[],
  values: ParsedValues,
  recovery: string,
): Promise<HandedOut> {
  const out = stringOption(values, 'out');
  let written: WrittenShare[] | null = null;
  if (out !== undefined) {
    try {
      const paths = shares.flatMap((share) => {
        const { textFile, qrFile } = shareFilePaths(out, shareSet, share.index, share.custodian);
        return [textFile, qrFile];
      });
      await refuseExistingShareFiles(paths, 'vault');
      written = await writeShareFiles(out, shareSet, shares);
    } catch (error) {
      throw new UsageError(
        `the shares could not be written to ${out}: ${(error as Error).message}. ${recovery}`,
        'vault',
      );
    }
  }
  return {
    shareSet,
    written,
    texts:
      values['print'] === true
        ? shares.map(({ custodian, index, text }) => ({ custodian, index, text }))
        : null,
  };
}

function handedOutLines(handed: HandedOut): string {
  const written = (handed.written ?? []).map(
    (share) =>
      `  share ${share.index} for ${share.custodian}${share.encrypted ? ' (sealed to their key)' : ''}: ${share.textFile} (QR: ${share.qrFile})\n`,
  );
  const texts = (handed.texts ?? []).map((share) => `\n${share.text}`);
  return written.join('') + texts.join('');
}

function statusText(status: VaultStatusReport): string {
  if (status.state === 'uninitialised') return 'no vault yet: create one with `mvctl vault init`\n';
  if (status.state === 'damaged') {
    return `vault DAMAGED: ${status.problem?.code ?? '?'}: ${status.problem?.message ?? ''}\n`;
  }
  return formatFields([
    ['state', status.state],
    ['vault', status.vaultId ?? '-'],
    ['unseal with', `any ${status.threshold} of ${status.shares} shares (share set ${status.shareSet})`],
    ...(status.unseal === null
      ? []
      : [
          [
            'unseal progress',
            `${status.unseal.have} of ${status.unseal.need} shares given (${status.unseal.indices.join(', ')})`,
          ] as const,
        ]),
    ['entries', String(status.entries)],
    ['generation', String(status.generation)],
    [
      'auto-seal',
      status.autoSealAfterSeconds === 0 ? 'never' : `after ${status.autoSealAfterSeconds} s idle`,
    ],
    ...(status.lastSealed === null
      ? []
      : [['last sealed', `${formatTime(status.lastSealed.at)} (${status.lastSealed.reason})`] as const]),
    ...(status.pendingRekey === null
      ? []
      : [
          [
            'pending rekey',
            `${status.pendingRekey.rekeyId}: ${status.pendingRekey.threshold} of ${status.pendingRekey.shares}`,
          ] as const,
        ]),
    ...(status.rollback === null
      ? []
      : [
          [
            'ROLLED BACK',
            `this file is ${status.rollback.fileVaultId} generation ${status.rollback.fileGeneration}; the newest seen is ${status.rollback.seen.vaultId} generation ${status.rollback.seen.generation} (${formatTime(status.rollback.seen.seenAt)}): put the newest file back, or \`mvctl vault accept-rollback ${status.rollback.fileGeneration}\``,
          ] as const,
        ]),
  ]);
}

/** A value printed as it is, if it is text; bytes a terminal would mangle must go to a file. */
function isPrintable(value: Buffer): boolean {
  const text = value.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return Buffer.from(text, 'utf8').equals(value) && !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text);
}

const keygen: LocalCommand = {
  kind: 'local',
  group: 'vault',
  name: 'keygen',
  summary: 'for a custodian: make an X25519 key pair, so their shares can be sealed to them (runs locally)',
  arguments: [{ name: 'NAME', description: 'the custodian’s name: files NAME.pub and NAME.key' }],
  options: [
    { name: 'out', type: 'string', value: 'DIR', description: 'where the two files go (default: .)' },
  ],
  run(positionals, values) {
    const [name, ...extra] = positionals;
    if (name === undefined) throw new UsageError('missing the custodian NAME', 'vault keygen');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, 'vault keygen');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
      throw new UsageError('NAME becomes a file name: letters, digits, . _ -, at most 64', 'vault keygen');
    }
    const directory = stringOption(values, 'out') ?? '.';
    const pair = generateCustodianKeyPair();
    const publicFile = join(directory, `${name}.pub`);
    const privateFile = join(directory, `${name}.key`);
    try {
      mkdirSync(directory, { recursive: true, mode: 0o700 });
      writeFileSync(
        privateFile,
        `# Multiverse custodian private key of ${name}: keep it apart from the share\n${pair.privateKey}\n`,
        {
          mode: 0o600,
          flag: 'wx',
        },
      );
      writeFileSync(
        publicFile,
        `# Multiverse custodian public key of ${name}: give it to the vault owner\n${pair.publicKey}\n`,
        {
          mode: 0o644,
          flag: 'wx',
        },
      );
    } catch (error) {
      throw new UsageError(`cannot write the key files: ${(error as Error).message}`, 'vault keygen');
    }
    return `public key ${publicFile} (give it to the vault owner)\nprivate key ${privateFile} (mode 0600: keep it apart from your share)\n`;
  },
};

export const VAULT_COMMANDS: readonly Command[] = [
  vaultCommand({
    name: 'status',
    verb: 'vault.status',
    summary: 'sealed or unsealed, unseal progress, vault id, K of N, number of entries',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'vault status');
      return {};
    },
    render: statusText,
  }),
  vaultCommand({
    name: 'init',
    verb: 'vault.init',
    summary: 'create the vault: one share per custodian, any K of them unseal it',
    arguments: [CUSTODIANS_ARGUMENT],
    options: SHARE_SET_OPTIONS,
    input: (positionals, values) => shareSetInput(positionals, values, 'vault init'),
    async receive(result, values) {
      const handed = await handOut(
        1,
        result.shares,
        values,
        'The vault exists and is unsealed: issue new shares with `mvctl vault rekey-prepare` before it seals.',
      );
      return { status: result.status, problems: result.problems, ...handed };
    },
    render: (shown: { status: VaultStatusReport; problems: FollowerProblem[] } & HandedOut) =>
      `vault ${shown.status.vaultId} created and unsealed: any ${shown.status.threshold} of ${shown.status.shares} shares unseal it\n` +
      handedOutLines(shown) +
      problemLines(shown.problems),
  }),
  vaultCommand({
    name: 'unseal',
    verb: 'vault.unseal',
    summary: 'give one custodian’s share (from a file, or stdin); at the threshold the vault unseals',
    arguments: [
      { name: 'SHARE-FILE', description: 'the share’s text file; `-` or none: read it from stdin' },
    ],
    options: [
      {
        name: 'key',
        type: 'string',
        value: 'KEY-FILE',
        description: 'the holder’s private key (from `mvctl vault keygen`), for a share sealed to them',
      },
    ],
    async input(positionals, values, context) {
      const [file, ...extra] = positionals;
      if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, 'vault unseal');
      const keyFile = stringOption(values, 'key');
      if (context.fileless !== undefined)
        return filelessUnsealInput(context.fileless, file, keyFile, context);
      const share = await readLocalInput(file, 'the share', SHARE_FILE_MAX_BYTES, 'vault unseal');
      let privateKey: string | undefined;
      if (keyFile !== undefined) {
        const text = (
          await readLocalInput(keyFile, 'the private key', KEY_FILE_MAX_BYTES, 'vault unseal')
        ).toString('utf8');
        privateKey = text
          .split('\n')
          .map((line) => line.trim())
          .find((line) => line !== '' && !line.startsWith('#'));
        if (privateKey === undefined)
          throw new UsageError(`${keyFile} holds no private key (a line MVSECRET-…)`, 'vault unseal');
      }
      return { share: share.toString('utf8'), privateKey };
    },
    render: (outcome) =>
      (outcome.unsealed
        ? `vault unsealed (shares ${outcome.indices.join(', ')})\n` +
          (outcome.inconsistent.length === 0
            ? ''
            : `warning: shares ${outcome.inconsistent.join(', ')} are not on the vault’s key: their holders need new shares (rekey)\n`)
        : `${outcome.have} of ${outcome.need} shares given (${outcome.indices.join(', ')}); the vault stays sealed until ${outcome.need - outcome.have} more\n`) +
      problemLines(outcome.problems),
  }),
  vaultCommand({
    name: 'seal',
    verb: 'vault.seal',
    summary: 'forget the vault’s key (or the shares given so far); encrypted VMs can no longer start',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'vault seal');
      return {};
    },
    render: (outcome) =>
      (outcome.wasUnsealed
        ? 'vault sealed\n'
        : outcome.forgottenShares > 0
          ? `the vault was sealed; the ${outcome.forgottenShares} share(s) given so far are forgotten\n`
          : 'the vault was sealed already\n') + problemLines(outcome.problems),
  }),
  vaultCommand({
    name: 'rekey-prepare',
    verb: 'vault.rekey-prepare',
    summary: 'new shares (new custodians, threshold) for the same key; the old ones work until rekey-commit',
    arguments: [CUSTODIANS_ARGUMENT],
    options: SHARE_SET_OPTIONS,
    input: (positionals, values) => shareSetInput(positionals, values, 'vault rekey-prepare'),
    async receive(result, values) {
      const handed = await handOut(
        result.shareSet,
        result.shares,
        values,
        'Nothing changed: prepare the rekey again.',
      );
      return { rekeyId: result.rekeyId, threshold: result.threshold, ...handed };
    },
    render: (shown: { rekeyId: string; threshold: number } & HandedOut) =>
      `rekey ${shown.rekeyId} prepared: share set ${shown.shareSet}, any ${shown.threshold} unseal\n` +
      handedOutLines(shown) +
      `hand the shares out, then \`mvctl vault rekey-commit ${shown.rekeyId}\` (until then the old shares stay valid)\n`,
  }),
  vaultCommand({
    name: 'rekey-commit',
    verb: 'vault.rekey-commit',
    summary: 'switch to the prepared shares: from now on only they unseal the vault',
    arguments: [{ name: 'REKEY-ID', description: 'printed by `mvctl vault rekey-prepare`' }],
    options: [],
    input: (positionals) => rekeyIdArgument(positionals, 'vault rekey-commit'),
    render: (done) =>
      `vault rekeyed: share set ${done.shareSet}, any ${done.threshold} of ${done.shares} shares unseal it; the old shares are void\n`,
  }),
  vaultCommand({
    name: 'rekey-discard',
    verb: 'vault.rekey-discard',
    summary: 'drop a prepared rekey; its shares are void, the old ones stay valid',
    arguments: [{ name: 'REKEY-ID', description: 'printed by `mvctl vault rekey-prepare`' }],
    options: [],
    input: (positionals) => rekeyIdArgument(positionals, 'vault rekey-discard'),
    render: ({ rekeyId }) => `rekey ${rekeyId} discarded\n`,
  }),
  vaultCommand({
    name: 'rotate',
    verb: 'vault.rotate',
    summary: 'a new master key, every entry re-encrypted; the shares stay valid',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'vault rotate');
      return {};
    },
    render: ({ generation, entries }) =>
      `master key rotated: ${entries} entries re-encrypted (generation ${generation})\n`,
  }),
  vaultCommand({
    name: 'accept-rollback',
    verb: 'vault.accept-rollback',
    summary:
      'use the vault file there now although it is older than (or another vault than) the newest this host saw',
    arguments: [
      {
        name: 'GENERATION',
        description: 'the file’s generation, as `mvctl vault status` shows it (a check)',
      },
    ],
    options: [],
    input(positionals) {
      const [text, ...rest] = positionals;
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`, 'vault accept-rollback');
      if (text === undefined || !/^[1-9]\d{0,9}$/.test(text)) {
        throw new UsageError('give the vault file’s GENERATION (a whole number)', 'vault accept-rollback');
      }
      return { generation: Number(text) };
    },
    render: ({ vaultId, generation, previous }) =>
      `vault ${vaultId} generation ${generation} accepted` +
      (previous === null
        ? ''
        : ` (the newest seen was ${previous.vaultId} generation ${previous.generation})`) +
      '; unseal it now\n',
  }),
  vaultCommand({
    name: 'list',
    verb: 'vault.list',
    summary: 'the entries: names, sizes, times (no values)',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'vault list');
      return {};
    },
    render: ({ entries }) =>
      entries.length === 0
        ? 'the vault has no entries\n'
        : formatTable(
            ['NAME', 'SIZE', 'UPDATED', 'MANAGED'],
            entries.map((entry) => [
              entry.name,
              String(entry.size),
              formatTime(entry.updatedAt),
              entry.managed ? 'yes (a disk key)' : '-',
            ]),
          ),
  }),
  vaultCommand({
    name: 'get',
    verb: 'vault.get',
    summary: 'print an entry’s value (text), or write it to a file',
    arguments: [{ name: 'NAME', description: 'the entry (from `mvctl vault list`)' }],
    options: [
      {
        name: 'out',
        type: 'string',
        value: 'FILE',
        description: 'write the value to FILE (mode 0600, never replaced)',
      },
    ],
    input: (positionals) => entryNameArgument(positionals, 'vault get'),
    async receive(result, values) {
      const value = Buffer.from(result.value, 'base64');
      try {
        const out = stringOption(values, 'out');
        if (out !== undefined) {
          await writeSecretFile(out, value);
          return { name: result.name, size: result.size, file: out };
        }
        if (values['json'] !== true && !isPrintable(value)) {
          throw new UsageError(
            `${result.name} holds bytes that are not text: use --out FILE (or --json for base64)`,
            'vault get',
          );
        }
        return result;
      } finally {
        value.fill(0);
      }
    },
    render: (shown: { name: string; size: number; value?: string; file?: string }) =>
      shown.file !== undefined
        ? `wrote ${shown.size} bytes of ${shown.name} to ${shown.file}\n`
        : Buffer.from(shown.value ?? '', 'base64').toString('utf8'),
  }),
  vaultCommand({
    name: 'put',
    verb: 'vault.put',
    summary: 'add or replace an entry, its value read from a file or stdin',
    arguments: [
      { name: 'NAME', description: 'the entry: letters, digits, . _ : @ + - /' },
      { name: 'FILE', description: 'the value; `-` or none: read it from stdin' },
    ],
    options: [],
    async input(positionals) {
      const [name, file, ...extra] = positionals;
      if (name === undefined) throw new UsageError('missing the entry NAME', 'vault put');
      if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, 'vault put');
      const value = await readLocalInput(file, 'the value', VAULT_VALUE_MAX_BYTES, 'vault put');
      try {
        return { name, value: value.toString('base64') };
      } finally {
        value.fill(0);
      }
    },
    render: ({ name, size, replaced }) => `${replaced ? 'replaced' : 'added'} ${name} (${size} bytes)\n`,
  }),
  vaultCommand({
    name: 'delete',
    verb: 'vault.delete',
    summary: 'delete an entry',
    arguments: [{ name: 'NAME', description: 'the entry (from `mvctl vault list`)' }],
    options: [],
    input: (positionals) => entryNameArgument(positionals, 'vault delete'),
    render: ({ name }) => `deleted ${name}\n`,
  }),
  keygen,
];

/** A share's text is a few comment lines and 6 or 11 share lines; many more is not a share being typed. */
const SHARE_TEXT_MAX_LINES = 40;

/**
 * `vault unseal` where there are no files (the SSH jail): the share is pasted at a prompt, line by line
 * until the share codec says it is whole, and a share sealed to its holder's key brings a question for
 * that key (not shown). An exec line has no prompt: its stdin carries the share.
 */
async function filelessUnsealInput(
  fileless: FilelessFrontEnd,
  file: string | undefined,
  keyFile: string | undefined,
  context: CommandInputContext,
): Promise<Record<string, unknown>> {
  if ((file !== undefined && file !== '-') || keyFile !== undefined) {
    throw new UsageError(
      `there are no files here, so no ${keyFile === undefined ? 'SHARE-FILE' : '--key KEY-FILE'}: ` +
        'run `mvctl vault unseal` alone and paste the share when it asks (and the private key, for a sealed share)',
      'vault unseal',
    );
  }
  if (fileless.ask === undefined) {
    const share = await readLocalInput('-', 'the share', SHARE_FILE_MAX_BYTES, 'vault unseal');
    return { share: share.toString('utf8') };
  }
  const share = await askForShare(fileless.ask, context);
  if (!isSealedShare(share)) return { share };
  const privateKey = await fileless.ask({
    prompt: 'this share is sealed to its holder’s key: private key (MVSECRET-…, not shown): ',
    echo: false,
  });
  if (privateKey === undefined || privateKey.trim() === '') {
    throw new UsageError('no private key was given, so the sealed share cannot be used', 'vault unseal');
  }
  return { share, privateKey: privateKey.trim() };
}

async function askForShare(
  ask: (question: TerminalQuestion) => Promise<string | undefined>,
  context: CommandInputContext,
): Promise<string> {
  context.stderr('paste the share’s text (its # lines may come along); Ctrl-C gives up\n');
  const lines: string[] = [];
  for (;;) {
    const text = lines.join('\n');
    const progress = shareTextProgress(text);
    if (progress.complete) return text;
    if (lines.length >= SHARE_TEXT_MAX_LINES || Buffer.byteLength(text) > SHARE_FILE_MAX_BYTES) {
      throw new UsageError('that is more text than a share has: paste one share', 'vault unseal');
    }
    const of = progress.linesNeeded === undefined ? '' : ` of ${progress.linesNeeded}`;
    const line = await ask({ prompt: `share line ${progress.linesGiven + 1}${of}: ` });
    if (line === undefined) throw new UsageError('no share was given', 'vault unseal');
    lines.push(line);
  }
}

/** Whether the share is sealed to its holder's key; a share that does not parse is left for hostd to judge. */
function isSealedShare(text: string): boolean {
  try {
    return parseShareText(text).encrypted;
  } catch {
    return false;
  }
}

function rekeyIdArgument(positionals: readonly string[], command: string): { rekeyId: string } {
  const [rekeyId, ...extra] = positionals;
  if (rekeyId === undefined) throw new UsageError('missing the REKEY-ID', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  if (!/^[0-9a-f]{16}$/.test(rekeyId))
    throw new UsageError(`"${rekeyId}" is not a rekey id (16 hex digits)`, command);
  return { rekeyId };
}

function entryNameArgument(positionals: readonly string[], command: string): { name: string } {
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('missing the entry NAME', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  return { name };
}

async function writeSecretFile(path: string, value: Buffer): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    throw new UsageError(
      `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      'vault get',
    );
  }
  try {
    await handle.writeFile(value);
  } finally {
    await handle.close();
  }
}
