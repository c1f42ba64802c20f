import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { OnionServiceKey, OnionServiceKeyStore } from '@multiverse/onion';
import { writeFileDurably } from '../durable-fs.js';
import { callHomeDamagedError } from './onion-errors.js';

export const CALLHOME_DIRECTORY = 'callhome';
const KEY_FILE = 'service-key.json';
const SETTINGS_FILE = 'callhome.json';

const StoredKeySchema = z.strictObject({
  serviceId: z.string().regex(/^[a-z2-7]{56}$/),
  privateKey: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
});

const StoredClientSchema = z.strictObject({
  name: z.string().min(1).max(32),
  /** The device's x25519 public key: all hostd keeps of it. */
  publicKeyBase32: z.string().regex(/^[A-Z2-7]{52}$/),
  addedAt: z.iso.datetime(),
});
export type StoredCallHomeClient = z.infer<typeof StoredClientSchema>;

const SettingsSchema = z.strictObject({
  version: z.literal(1),
  /** Published whenever hostd runs (it publishes again at start). */
  enabled: z.boolean(),
  allowWithoutClientAuth: z.boolean(),
  clients: z.array(StoredClientSchema),
});
export type CallHomeSettingsRecord = z.infer<typeof SettingsSchema>;

const EMPTY_SETTINGS: CallHomeSettingsRecord = {
  version: 1,
  enabled: false,
  allowWithoutClientAuth: false,
  clients: [],
};

/**
 * Call-home's state in `<stateDir>/callhome/` (0700; files 0600, written durably): the onion service key
 * (whoever holds it can publish the address) and the settings — enabled, and each authorized device's name
 * and public key. Outside the vault on purpose: call-home is how the owner reaches a host behind NAT to
 * unseal it. A device's private key is handed out once and never written here.
 */
export class CallHomeStore implements OnionServiceKeyStore {
  readonly directory: string;

  constructor(stateDir: string) {
    this.directory = join(stateDir, CALLHOME_DIRECTORY);
  }

  async prepare(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    await chmod(this.directory, 0o700);
  }

  async load(): Promise<OnionServiceKey | undefined> {
    const text = await readOptional(join(this.directory, KEY_FILE));
    if (text === undefined) return undefined;
    return parseStored(StoredKeySchema, text, KEY_FILE);
  }

  async save(key: OnionServiceKey): Promise<void> {
    await this.prepare();
    await writeFileDurably(join(this.directory, KEY_FILE), `${JSON.stringify(key)}\n`, 0o600);
  }

  async readSettings(): Promise<CallHomeSettingsRecord> {
    const text = await readOptional(join(this.directory, SETTINGS_FILE));
    return text === undefined ? EMPTY_SETTINGS : parseStored(SettingsSchema, text, SETTINGS_FILE);
  }

  async writeSettings(settings: CallHomeSettingsRecord): Promise<void> {
    await this.prepare();
    await writeFileDurably(
      join(this.directory, SETTINGS_FILE),
      `${JSON.stringify(SettingsSchema.parse(settings), null, 2)}\n`,
      0o600,
    );
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw callHomeDamagedError(`${path} cannot be read: ${(error as Error).message}`);
  }
}

function parseStored<Schema extends z.ZodType>(schema: Schema, text: string, file: string): z.output<Schema> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw callHomeDamagedError(`${file} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw callHomeDamagedError(
      `${file}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}
