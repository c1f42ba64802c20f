import { z } from 'zod';

/**
 * Which tor hostd uses. `own`: hostd runs and supervises its own tor when call-home or an onion device needs
 * one. `off`: none (call-home and onion0 refuse). `control`: an existing tor, reached on its control port
 * (a unix socket path, or HOST:PORT), authenticated by the cookie it names (or no authentication).
 */
export type TorMode =
  | { readonly kind: 'own' }
  | { readonly kind: 'off' }
  | {
      readonly kind: 'control';
      readonly endpoint: { readonly path: string } | { readonly host: string; readonly port: number };
    };

const CONTROL_PATH = /^control:(\/[^\s\0]{1,106})$/;
const CONTROL_TCP = /^control:(\[[0-9a-fA-F:.]+\]|\d{1,3}(?:\.\d{1,3}){3}|localhost):([1-9]\d{0,4})$/;

/** `MULTIVERSE_TOR`: own (default) | off | control:/path/to/control.sock | control:HOST:PORT. */
export const TOR_MODE_SETTING = z
  .string()
  .refine((text) => text === 'own' || text === 'off' || CONTROL_PATH.test(text) || tcpPort(text) !== null, {
    message:
      'must be own, off, control:/PATH/TO/control.sock or control:HOST:PORT (e.g. control:127.0.0.1:9051)',
  })
  .default('own');

export function parseTorMode(text: string): TorMode {
  if (text === 'own' || text === 'off') return { kind: text };
  const path = CONTROL_PATH.exec(text)?.[1];
  if (path !== undefined) return { kind: 'control', endpoint: { path } };
  const tcp = tcpPort(text);
  if (tcp === null) throw new Error(`not a tor mode: ${text}`);
  return { kind: 'control', endpoint: tcp };
}

function tcpPort(text: string): { host: string; port: number } | null {
  const match = CONTROL_TCP.exec(text);
  if (match === null) return null;
  const port = Number(match[2]);
  if (port > 65_535) return null;
  return { host: (match[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port };
}

/** How a tor mode reads in status and logs. */
export function describeTorMode(mode: TorMode): string {
  if (mode.kind !== 'control') return mode.kind;
  return 'path' in mode.endpoint
    ? `control:${mode.endpoint.path}`
    : `control:${mode.endpoint.host}:${mode.endpoint.port}`;
}
