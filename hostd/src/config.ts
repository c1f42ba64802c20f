import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { TOR_MODE_SETTING, parseTorMode } from './onion/tor-mode.js';
import type { TorMode } from './onion/tor-mode.js';

/** hostd's settings, read from MULTIVERSE_* environment variables and validated before anything starts. */
export interface HostdConfig {
  libvirtUri: string;
  stateDir: string;
  runDir: string;
  /** `auto` probes KVM by booting a throw-away guest; `kvm`/`tcg` skip the probe. */
  accelerator: 'auto' | 'kvm' | 'tcg';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Where VM templates are read from; null: the ones vm-templates ships. */
  templatesDir: string | null;
  /** Where guest images are built and kept; null: `<stateDir>/images`. */
  imagesDir: string | null;
  /** Layers a private volume's chain may have (checkpoints + top); older unpinned ones are merged beyond it. */
  maxChainDepth: number;
  /** How many booted, paused disposables to keep per disposable template. */
  disposablePool: ReadonlyMap<string, number>;
  /** Seal the vault after this many seconds without a vault operation; 0: never on idle. */
  vaultAutoSealSeconds: number;
  /** Where the SSH jail listens; null: no jail listener (its users can still be managed). */
  jailListen: { host: string; port: number } | null;
  /** Where the web UI (the unseal page) listens, plain HTTP; null: no web listener. */
  webListen: { host: string; port: number } | null;
  /** Which tor call-home and onion0 use: hostd's own (started when needed), none, or an existing one. */
  tor: TorMode;
  /** A file whose lines are appended to the torrc of hostd's own tor (bridges, a test network); null: none. */
  torrcExtraPath: string | null;
}

const absolutePath = z.string().refine((value) => isAbsolute(value), { message: 'must be an absolute path' });

/** `HOST:PORT` (an IPv4 address, `[IPv6]` or localhost) or `off`. */
function listenSetting(defaultAddress: string) {
  return z
    .string()
    .regex(/^(off|(\[[0-9a-fA-F:.]+\]|\d{1,3}(\.\d{1,3}){3}|localhost):([1-9]\d{0,4}))$/, {
      message: `must be HOST:PORT (e.g. ${defaultAddress}, [::1]:${defaultAddress.split(':')[1]}) or off`,
    })
    .refine((value) => value === 'off' || Number(value.slice(value.lastIndexOf(':') + 1)) <= 65_535, {
      message: 'the port must be at most 65535',
    })
    .default(defaultAddress);
}

const configSchema = z.object({
  MULTIVERSE_LIBVIRT_URI: z.string().min(1).default('qemu:///system'),
  MULTIVERSE_STATE_DIR: absolutePath.default('/var/lib/multiverse'),
  MULTIVERSE_RUN_DIR: absolutePath.default('/run/multiverse'),
  MULTIVERSE_ACCELERATOR: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  MULTIVERSE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** Where VM templates are read from; unset: the ones vm-templates ships. */
  MULTIVERSE_TEMPLATES_DIR: absolutePath.optional(),
  /** Where guest images are built and kept; unset: `<stateDir>/images`. */
  MULTIVERSE_IMAGES_DIR: absolutePath.optional(),
  /** 2 to 64 layers; more makes every guest read walk a longer chain. */
  MULTIVERSE_MAX_CHAIN_DEPTH: z
    .string()
    .regex(/^\d{1,2}$/, { message: 'must be a whole number of layers from 2 to 64' })
    .default('16')
    .transform(Number)
    .refine((depth) => depth >= 2 && depth <= 64, {
      message: 'must be a whole number of layers from 2 to 64',
    }),
  /** `TEMPLATE=N[,TEMPLATE=N…]`, or `none`. */
  MULTIVERSE_DISPOSABLE_POOL: z
    .string()
    .regex(/^(none|[a-z][a-z0-9-]{0,31}=\d{1,2}(,[a-z][a-z0-9-]{0,31}=\d{1,2})*)$/, {
      message: 'must be TEMPLATE=COUNT[,TEMPLATE=COUNT…] (counts 0-99), or none',
    })
    .default('disposable=1'),
  /** Seconds without a vault operation before it seals itself; 0: never. At most a week. */
  MULTIVERSE_VAULT_AUTOSEAL_S: z
    .string()
    .regex(/^\d{1,6}$/, { message: 'must be a whole number of seconds (0: never seal on idle)' })
    .default('900')
    .transform(Number)
    .refine((seconds) => seconds <= 604_800, { message: 'must be at most 604800 (a week)' }),
  /** `HOST:PORT` (an IPv4 address, `[IPv6]` or localhost) the SSH jail listens on, or `off`. */
  MULTIVERSE_JAIL_LISTEN: listenSetting('127.0.0.1:2222'),
  /** `HOST:PORT` the web UI listens on (plain HTTP: loopback, or an onion service in front), or `off`. */
  MULTIVERSE_WEB_LISTEN: listenSetting('127.0.0.1:8420'),
  MULTIVERSE_TOR: TOR_MODE_SETTING,
  MULTIVERSE_TORRC_EXTRA: absolutePath.optional(),
});

export class ConfigError extends Error {
  readonly code = 'HOSTD_CONFIG_INVALID';
  override readonly name = 'ConfigError';
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): HostdConfig {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).map((key) => [key, env[key] || undefined]),
  );
  const parsed = configSchema.safeParse(known);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new ConfigError(
      `invalid hostd settings: ${problems}. Fix the environment variables named and start hostd again.`,
    );
  }
  const values = parsed.data;
  return {
    libvirtUri: values.MULTIVERSE_LIBVIRT_URI,
    stateDir: values.MULTIVERSE_STATE_DIR,
    runDir: values.MULTIVERSE_RUN_DIR,
    accelerator: values.MULTIVERSE_ACCELERATOR,
    logLevel: values.MULTIVERSE_LOG_LEVEL,
    templatesDir: values.MULTIVERSE_TEMPLATES_DIR ?? null,
    imagesDir: values.MULTIVERSE_IMAGES_DIR ?? null,
    maxChainDepth: values.MULTIVERSE_MAX_CHAIN_DEPTH,
    disposablePool: parsePoolSizes(values.MULTIVERSE_DISPOSABLE_POOL),
    vaultAutoSealSeconds: values.MULTIVERSE_VAULT_AUTOSEAL_S,
    jailListen: parseListenAddress(values.MULTIVERSE_JAIL_LISTEN),
    webListen: parseListenAddress(values.MULTIVERSE_WEB_LISTEN),
    tor: parseTorMode(values.MULTIVERSE_TOR),
    torrcExtraPath: values.MULTIVERSE_TORRC_EXTRA ?? null,
  };
}

function parseListenAddress(text: string): { host: string; port: number } | null {
  if (text === 'off') return null;
  const split = text.lastIndexOf(':');
  return { host: text.slice(0, split).replace(/^\[(.*)\]$/, '$1'), port: Number(text.slice(split + 1)) };
}

function parsePoolSizes(text: string): Map<string, number> {
  if (text === 'none') return new Map();
  return new Map(
    text.split(',').map((entry) => {
      const [template = '', count = '0'] = entry.split('=');
      return [template, Number(count)] as const;
    }),
  );
}
