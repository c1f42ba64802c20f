// Test support for the web UI's tests: a real hostd with its web listener on a free loopback port, a sealed
// 2-of-3 vault made with mvctl, a share of another vault, and raw HTTP requests from a chosen client address.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '@multiverse/jail-shell';
import { initVault } from '@multiverse/keyvault';
import { HostdProcess } from '../../testing/hostd-process.js';
import type { VaultStatusReport } from '../../vault/index.js';

export interface WebTestHost {
  readonly root: string;
  readonly hostd: HostdProcess;
  readonly port: number;
  readonly baseUrl: string;
  /** The custodians' share texts, as `mvctl vault init` wrote them: alice, bob, carol. */
  readonly shares: { readonly alice: string; readonly bob: string; readonly carol: string };
  readonly vaultId: string;
  stop(): Promise<void>;
}

/** A hostd serving the web UI, with a sealed vault any 2 of whose 3 shares unseal. */
export async function startWebTestHost(prefix: string): Promise<WebTestHost> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const port = await freeLoopbackPort();
  const hostd = new HostdProcess({
    root,
    env: {
      MULTIVERSE_WEB_LISTEN: `127.0.0.1:${port}`,
      MULTIVERSE_DISPOSABLE_POOL: 'none',
      MULTIVERSE_VAULT_AUTOSEAL_S: '0',
    },
  });
  try {
    await hostd.start();
    const init = await hostd.mvctl(
      ['vault', 'init', 'alice', 'bob', 'carol', '--threshold', '2', '--out', 'shares'],
      { cwd: root },
    );
    assert.equal(init.code, 0, `vault init: ${init.stderr}`);
    const seal = await hostd.mvctl(['vault', 'seal']);
    assert.equal(seal.code, 0, `vault seal: ${seal.stderr}`);
    const status = await hostd.mvctlJson<VaultStatusReport>(['vault', 'status']);
    assert.equal(status.state, 'sealed');
    const share = (index: number, name: string) =>
      readFile(join(root, 'shares', `share-1-${index}-${name}.txt`), 'utf8');
    return {
      root,
      hostd,
      port,
      baseUrl: `http://127.0.0.1:${port}`,
      shares: { alice: await share(1, 'alice'), bob: await share(2, 'bob'), carol: await share(3, 'carol') },
      vaultId: status.vaultId ?? '',
      stop: async () => {
        await hostd.stop('SIGTERM');
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await hostd.stop('SIGKILL');
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

/** A well-formed share of a vault this host has never seen. */
export async function foreignShareText(root: string): Promise<string> {
  const { vault, shares } = await initVault({
    path: join(root, 'foreign.mvv'),
    threshold: 2,
    custodians: ['mallory', 'trent'],
  });
  vault.seal();
  return shares[0]?.text ?? assert.fail('initVault gave no share');
}

/** The data lines of a share's text (`1: 0409 6KM7 …`) without their numbers: what must never be shown. */
export function shareDataLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => /^\d+: /.test(line))
    .map((line) => line.replace(/^\d+: /, ''));
}

/** The share with one character of share line `line` changed: a typo the line check catches. */
export function withTypo(text: string, line: number): string {
  return text.replace(new RegExp(`^(${line}: )(\\S)`, 'm'), (_match, prefix: string, first: string) => {
    return prefix + (first === 'A' ? 'B' : 'A');
  });
}

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP request with full control: any Host header, any body, sent from `localAddress` (a 127.x address). */
export function rawRequest(
  port: number,
  options: {
    readonly method?: string;
    readonly path: string;
    readonly headers?: Record<string, string>;
    readonly body?: string;
    readonly localAddress?: string;
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: {
          ...(options.body === undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** The unseal form's token and the cookie that goes with it, from a GET of the page. */
export async function formToken(
  port: number,
  localAddress?: string,
): Promise<{ readonly cookie: string; readonly token: string }> {
  const page = await rawRequest(port, {
    path: '/unseal',
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  assert.equal(page.status, 200, page.body);
  const setCookie = page.headers['set-cookie']?.[0] ?? assert.fail('no CSRF cookie set');
  const cookie = setCookie.split(';')[0] ?? '';
  const token = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? assert.fail('no token in the form');
  return { cookie, token };
}
