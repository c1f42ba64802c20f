import { createHash } from 'node:crypto';
import { BASE32_ALPHABET, base32Value, decodeBase32Values, encodeBase32 } from './base32.js';
import { ByteReader, ByteWriter } from './byte-codec.js';
import { VaultError } from './errors.js';
import { lineCheckPasses, lineCheckValue } from './line-check.js';
import {
  formatVaultId,
  SEALED_POINT_BYTES,
  SHARE_POINT_BYTES,
  X25519_KEY_BYTES,
  type ShareLabel,
  type VaultShare,
} from './share.js';
import { VAULT_ID_BYTES } from './vault-file.js';

/*
 * Share payload, format version 1 (big-endian):
 *   version u8 = 1 · flags u8 (bit 0: encrypted) · vaultId 10 · shareSet u16
 *   index u8 · shareCount u8 · threshold u8
 *   plain:     point 33
 *   encrypted: ephemeralPublicKey 32 · sealedPoint 49
 *   checksum 4 = first 4 bytes of SHA-256(everything before)
 *
 * Text form: the payload in base32, zero-padded to whole lines of 15 characters, each line
 * followed by its check character (line-check.ts), printed as numbered lines of four groups:
 *
 *   # Multiverse vault share — ...           (comment lines, ignored when read back)
 *   1: 0ABC DEFG HJKM NPQ7
 *
 * Reading back accepts either the lines (numbers, spaces and hyphens optional) or all characters
 * on one line, as in the QR code (`MVSHARE:` followed by the lines run together).
 */
const SHARE_FORMAT_VERSION = 1;
const FLAG_ENCRYPTED = 0x01;
const LABEL_BYTES = 2 + VAULT_ID_BYTES + 2 + 3;
const CHECKSUM_BYTES = 4;
const DATA_CHARS_PER_LINE = 15;
const LINE_CHARS = DATA_CHARS_PER_LINE + 1;
const QR_PREFIX = 'MVSHARE:';

function payloadLength(encrypted: boolean): number {
  return (
    LABEL_BYTES + (encrypted ? X25519_KEY_BYTES + SEALED_POINT_BYTES : SHARE_POINT_BYTES) + CHECKSUM_BYTES
  );
}

function lineCount(encrypted: boolean): number {
  return Math.ceil(Math.ceil((payloadLength(encrypted) * 8) / 5) / DATA_CHARS_PER_LINE);
}

/** The label bytes (version through threshold): also the AAD of an encrypted share. */
export function encodeShareLabel(share: ShareLabel, encrypted: boolean): Buffer {
  return new ByteWriter()
    .u8(SHARE_FORMAT_VERSION)
    .u8(encrypted ? FLAG_ENCRYPTED : 0)
    .fixed(share.vaultId)
    .u16(share.shareSet)
    .u8(share.index)
    .u8(share.shareCount)
    .u8(share.threshold)
    .toBuffer();
}

export function encodeSharePayload(share: VaultShare): Buffer {
  const body = Buffer.concat([
    encodeShareLabel(share, share.encrypted),
    ...(share.encrypted ? [share.ephemeralPublicKey, share.sealedPoint] : [share.point]),
  ]);
  return Buffer.concat([body, checksum(body)]);
}

/** The share's lines, each 16 characters: 15 data characters and a check character. */
export function shareLines(share: VaultShare): string[] {
  return payloadLines(encodeSharePayload(share));
}

/** Cuts a payload's base32 form into zero-padded lines and appends each line's check character. */
export function payloadLines(payload: Buffer): string[] {
  const base32 = encodeBase32(payload);
  const data = base32.padEnd(
    Math.ceil(base32.length / DATA_CHARS_PER_LINE) * DATA_CHARS_PER_LINE,
    BASE32_ALPHABET[0],
  );
  const lines: string[] = [];
  for (let start = 0; start < data.length; start += DATA_CHARS_PER_LINE) {
    const chunk = data.slice(start, start + DATA_CHARS_PER_LINE);
    const values = [...chunk].map(base32Value);
    lines.push(chunk + BASE32_ALPHABET[lineCheckValue(lines.length + 1, values)]!);
  }
  return lines;
}

export interface ShareTextOptions {
  /** Printed in a comment line so the holder knows the sheet is theirs; not part of the share. */
  custodian?: string;
}

/** The printable text form: comment lines, then numbered lines in groups of four characters. */
export function formatShareText(share: VaultShare, options: ShareTextOptions = {}): string {
  const holder = options.custodian === undefined ? '' : `  holder: ${printable(options.custodian)}`;
  const header = [
    '# Multiverse vault share. Keep it private and offline.',
    `# vault ${formatVaultId(share.vaultId)}  share ${share.index} of ${share.shareCount}` +
      `  any ${share.threshold} unseal  set ${share.shareSet}${holder}`,
  ];
  if (share.encrypted) header.push("# encrypted: decrypt with the holder's private key before unsealing");
  const lines = shareLines(share);
  const width = String(lines.length).length;
  return [
    ...header,
    ...lines.map((line, i) => `${String(i + 1).padStart(width)}: ${line.match(/.{4}/g)!.join(' ')}`),
  ].join('\n');
}

/** The compact one-line form carried by the QR code. */
export function formatShareCompact(share: VaultShare): string {
  return QR_PREFIX + shareLines(share).join('');
}

/** How far share text typed line by line has got: a prompt reading a pasted share stops once it is complete. */
export interface ShareTextProgress {
  /** Share lines so far; comment and blank lines do not count. */
  readonly linesGiven: number;
  /** How many lines the share needs, read from its first line (a plain share 6, an encrypted one 11). */
  readonly linesNeeded: number | undefined;
  /**
   * Nothing more to read: every line is there, or the text is the one-line form, or its first line cannot
   * be read (parseShareText then says what is wrong with it).
   */
  readonly complete: boolean;
}

/** Reads only as much as `parseShareText` needs to know how many lines the share has; judges nothing else. */
export function shareTextProgress(text: string): ShareTextProgress {
  const lines = text
    .split(/\r?\n/)
    .map((raw) => raw.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const first = lines[0];
  if (first === undefined) return { linesGiven: 0, linesNeeded: undefined, complete: false };
  const settled = { linesGiven: lines.length, linesNeeded: undefined, complete: true };
  const numbered = /^(\d+)\s*[:.)]\s*(.*)$/.exec(first);
  const characters = stripSeparators(numbered === null ? first : numbered[2]!);
  // Anything but one share line is the one-line form or a line cut short: parsing takes it from here.
  if (characters.length !== LINE_CHARS) return settled;
  const values = [...characters.slice(0, 4)].map(base32Value);
  if (values.some((value) => value < 0)) return settled;
  const head = decodeBase32Values(values).bytes;
  if (head[0] !== SHARE_FORMAT_VERSION || (head[1]! & ~FLAG_ENCRYPTED) !== 0) return settled;
  const linesNeeded = lineCount((head[1]! & FLAG_ENCRYPTED) !== 0);
  return { linesGiven: lines.length, linesNeeded, complete: lines.length >= linesNeeded };
}

interface InputLine {
  /** 1-based line number in what the person typed, for messages. */
  readonly sourceLine: number;
  readonly characters: string;
}

/**
 * Parses a share from its text form (or compact form). Throws SHARE_FORMAT or SHARE_CHECKSUM with
 * `line` set to the line at fault where one can be named.
 */
export function parseShareText(text: string): VaultShare {
  if (typeof text !== 'string') throw formatError('a share must be given as text');
  const rows = splitRows(text);
  const firstRow = rows[0];
  if (firstRow === undefined) throw formatError('the text holds no share lines');
  // The first line says which kind of share this is, hence how many lines it must have; checking
  // the count before the other lines names a missing line instead of a "typo" in the one after.
  const head = decodeBase32Values(checkedValues(firstRow, 1).slice(0, 4)).bytes;
  if (head[0] !== SHARE_FORMAT_VERSION) {
    throw formatError(
      `share format version ${head[0]} is not supported; it may be from a newer Multiverse`,
      firstRow.sourceLine,
    );
  }
  if ((head[1]! & ~FLAG_ENCRYPTED) !== 0) {
    throw formatError(
      `the share has unknown flags ${head[1]}; it may be from a newer Multiverse`,
      firstRow.sourceLine,
    );
  }
  const encrypted = (head[1]! & FLAG_ENCRYPTED) !== 0;
  const expectedLines = lineCount(encrypted);
  if (rows.length !== expectedLines) {
    throw formatError(
      `the share has ${rows.length} lines but a${encrypted ? 'n encrypted' : ' plain'} share has ` +
        `${expectedLines}: ${rows.length < expectedLines ? 'a line is missing' : 'there is an extra line'}`,
    );
  }
  const values = rows.map((row, i) => checkedValues(row, i + 1));
  const dataValues = values.flatMap((lineValues) => lineValues.slice(0, DATA_CHARS_PER_LINE));
  const { bytes } = decodeBase32Values(dataValues);
  const length = payloadLength(encrypted);
  const payload = bytes.subarray(0, length);
  if (!paddingBitsZero(dataValues, length)) {
    throw checksumError('the padding after the share data is not zero: check the last line');
  }
  const body = payload.subarray(0, length - CHECKSUM_BYTES);
  if (!checksum(body).equals(payload.subarray(length - CHECKSUM_BYTES))) {
    throw checksumError(
      'every line passes its own check but the whole-share checksum does not: lines may be in the ' +
        'wrong order, or a line holds more than one typo',
    );
  }
  return decodePayload(body, encrypted);
}

function splitRows(text: string): InputLine[] {
  const lines: InputLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    lines.push({ sourceLine: i + 1, characters: trimmed });
  });
  if (lines.length === 1) {
    // One line: the compact form, or all lines typed without breaks. Lines are fixed-width, so
    // cutting the run into 16-character lines restores them.
    const only = lines[0]!;
    const run = stripSeparators(only.characters.replace(new RegExp(`^${QR_PREFIX}`, 'i'), ''));
    if (run.length % LINE_CHARS !== 0) {
      throw formatError(
        `the share has ${run.length} characters; a share is whole lines of ${LINE_CHARS}, ` +
          'so a character is missing or extra',
        only.sourceLine,
      );
    }
    return (run.match(new RegExp(`.{${LINE_CHARS}}`, 'g')) ?? []).map((characters) => ({
      sourceLine: only.sourceLine,
      characters,
    }));
  }
  return lines.map((line, i) => {
    const numbered = /^(\d+)\s*[:.)]\s*(.*)$/.exec(line.characters);
    if (numbered !== null && Number(numbered[1]) !== i + 1) {
      throw formatError(
        `line ${line.sourceLine} is numbered ${numbered[1]} but is share line ${i + 1}: ` +
          'a line is missing or out of order',
        line.sourceLine,
      );
    }
    const characters = stripSeparators(numbered === null ? line.characters : numbered[2]!);
    if (characters.length !== LINE_CHARS) {
      throw formatError(
        `line ${line.sourceLine} has ${characters.length} characters, expected ${LINE_CHARS}: ` +
          `a character is ${characters.length < LINE_CHARS ? 'missing' : 'extra'}`,
        line.sourceLine,
      );
    }
    return { sourceLine: line.sourceLine, characters };
  });
}

function stripSeparators(characters: string): string {
  return characters.replace(/[\s-]+/g, '');
}

function checkedValues(row: InputLine, lineNumber: number): number[] {
  const values = [...row.characters].map((character, column) => {
    const value = base32Value(character);
    if (value < 0) {
      throw formatError(
        `line ${row.sourceLine}: ${JSON.stringify(character)} (character ${column + 1} of share line ` +
          `${lineNumber}) is not a share character (0-9, A-Z without I, L, O, U)`,
        row.sourceLine,
      );
    }
    return value;
  });
  if (!lineCheckPasses(lineNumber, values)) {
    throw checksumError(
      `share line ${lineNumber} (line ${row.sourceLine} of the text) has a typo: its check ` +
        'character does not match. Compare that line with the printed share.',
      row.sourceLine,
    );
  }
  return values;
}

function paddingBitsZero(values: readonly number[], payloadBytes: number): boolean {
  const usedCharacters = Math.ceil((payloadBytes * 8) / 5);
  const spareBits = usedCharacters * 5 - payloadBytes * 8;
  const last = values[usedCharacters - 1] ?? 0;
  return (last & ((1 << spareBits) - 1)) === 0 && values.slice(usedCharacters).every((value) => value === 0);
}

function decodePayload(body: Buffer, encrypted: boolean): VaultShare {
  const reader = new ByteReader(body);
  reader.u8();
  reader.u8();
  const label: ShareLabel = {
    vaultId: Buffer.from(reader.fixed(VAULT_ID_BYTES)),
    shareSet: reader.u16(),
    index: reader.u8(),
    shareCount: reader.u8(),
    threshold: reader.u8(),
  };
  if (
    label.threshold < 2 ||
    label.shareCount < label.threshold ||
    label.index < 1 ||
    label.index > label.shareCount
  ) {
    throw formatError(
      `the share claims to be share ${label.index} of ${label.shareCount} with threshold ${label.threshold}, ` +
        'which is impossible: it was not made by Multiverse',
    );
  }
  if (encrypted) {
    return {
      ...label,
      encrypted: true,
      ephemeralPublicKey: Buffer.from(reader.fixed(X25519_KEY_BYTES)),
      sealedPoint: Buffer.from(reader.fixed(SEALED_POINT_BYTES)),
    };
  }
  const point = Buffer.from(reader.fixed(SHARE_POINT_BYTES));
  if (point[SHARE_POINT_BYTES - 1] === 0) {
    throw formatError("the share's x-coordinate is zero, which Shamir shares never have");
  }
  return { ...label, encrypted: false, point };
}

function checksum(body: Uint8Array): Buffer {
  return createHash('sha256').update(body).digest().subarray(0, CHECKSUM_BYTES);
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e\u00a0-\uffff]/g, '?').slice(0, 80);
}

function formatError(what: string, line?: number): VaultError {
  return new VaultError(
    'SHARE_FORMAT',
    `Not a readable vault share: ${what}.`,
    line === undefined ? {} : { line },
  );
}

function checksumError(what: string, line?: number): VaultError {
  return new VaultError(
    'SHARE_CHECKSUM',
    `Share typo: ${what}${what.endsWith('.') ? '' : '.'}`,
    line === undefined ? {} : { line },
  );
}
