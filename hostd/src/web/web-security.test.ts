// The web listener at the HTTP level, against a real hostd: security headers on every answer, htmx served
// from hostd's own install, the CSRF fence (no token, no cookie, a mismatch, an unsigned pair, a cross-site
// fetch), oversized and empty submissions, other host names (DNS rebinding), the per-client rate limit —
// each refusal from its own loopback address, none of them reaching the vault.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { AuditEntry } from '../audit/index.js';
import type { VaultStatusReport } from '../vault/index.js';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostdProcess } from '../testing/hostd-process.js';
import { freeLoopbackPort } from '@multiverse/jail-shell';
import { formToken, rawRequest, startWebTestHost } from './testing/web-test-hostd.js';
import type { RawResponse, WebTestHost } from './testing/web-test-hostd.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

describe('the web listener over HTTP', { timeout: 120_000 }, () => {
  let host: WebTestHost;

  before(async () => {
    host = await startWebTestHost('mv-web-http-');
  });

  after(async () => {
    await host?.stop();
  });

  function post(
    localAddress: string,
    body: string,
    headers: Record<string, string> = {},
  ): Promise<RawResponse> {
    return rawRequest(host.port, {
      method: 'POST',
      path: '/unseal',
      localAddress,
      body,
      headers: { ...FORM, ...headers },
    });
  }

  it('sends strict security headers and an HttpOnly SameSite=Strict CSRF cookie with the page', async () => {
    const page = await rawRequest(host.port, { path: '/unseal' });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "form-action 'self'",
      "base-uri 'none'",
    ]) {
      assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    }
    assert.ok(!csp.includes('unsafe'), 'no unsafe-inline or unsafe-eval');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal(page.headers['x-powered-by'], undefined);
    const cookie = page.headers['set-cookie']?.[0] ?? '';
    assert.match(cookie, /^mv_csrf=[\w-]+\.[\w-]+;/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    // No inline script or style anywhere in the page: everything comes from hostd's own files.
    assert.doesNotMatch(page.body, /<script>|<script [^>]*>[^<]|<style|\sstyle=|\son\w+=/);
    assert.match(page.body, /<script src="\/assets\/htmx\.min\.js" defer><\/script>/);
  });

  it('serves htmx from its npm package and the stylesheet, both under the same headers', async () => {
    const script = await rawRequest(host.port, { path: '/assets/htmx.min.js' });
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /javascript/);
    const installed = createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js');
    assert.equal(script.body, await readFile(installed, 'utf8'));
    assert.equal(script.headers['x-content-type-options'], 'nosniff');
    const css = await rawRequest(host.port, { path: '/assets/web.css' });
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /^text\/css/);
    assert.ok(!css.body.includes('@import') && !css.body.includes('url('), 'no external fonts or images');
    const missing = await rawRequest(host.port, { path: '/nothing' });
    assert.equal(missing.status, 404);
    assert.ok(missing.headers['content-security-policy']);
    const root = await rawRequest(host.port, { path: '/' });
    assert.equal(root.status, 303);
    assert.equal(root.headers.location, '/unseal');
  });

  it('refuses POSTs without a valid token pair: missing, mismatched, unsigned, cross-site', async () => {
    const { cookie, token } = await formToken(host.port, '127.0.0.2');
    const another = await formToken(host.port, '127.0.0.2');
    assert.notEqual(another.token, token, 'a page without a cookie gets a fresh token');
    const share = host.shares.alice;
    // Each from its own address: six refusals from one would meet the rate limit first.
    let client = 20;
    const from = () => `127.0.0.${(client += 1)}`;
    const refusals: [string, RawResponse][] = [
      ['no cookie, no field', await post(from(), formBody({ share }))],
      ['field without cookie', await post(from(), formBody({ csrf: token, share }))],
      ['cookie without field', await post(from(), formBody({ share }), { cookie })],
      [
        'another token in the field',
        await post(from(), formBody({ csrf: another.token, share }), { cookie }),
      ],
      [
        'an unsigned pair a sibling host could plant',
        await post(from(), formBody({ csrf: 'planted.value', share }), { cookie: 'mv_csrf=planted.value' }),
      ],
      [
        'a cross-site fetch with the right pair',
        await post(from(), formBody({ csrf: token, share }), { cookie, 'sec-fetch-site': 'cross-site' }),
      ],
    ];
    for (const [what, response] of refusals) {
      assert.equal(response.status, 403, what);
      assert.match(response.body, /did not come from the unseal page/, what);
      assert.ok(!response.body.includes(share.split('\n')[3] ?? '?'), 'no share echoed');
    }
    const status = await host.hostd.mvctlJson<VaultStatusReport>(['vault', 'status']);
    assert.equal(status.unseal, null, 'no refused POST gave a share to the vault');
  });

  it('refuses an oversized body (413) and an empty share (400) before the vault', async () => {
    const { cookie, token } = await formToken(host.port, '127.0.0.4');
    const huge = await post('127.0.0.4', formBody({ csrf: token, share: 'A'.repeat(20 * 1024) }), { cookie });
    assert.equal(huge.status, 413);
    assert.match(huge.body, /too much text for one share/);
    const empty = await post('127.0.0.4', formBody({ csrf: token, share: '  \n' }), {
      cookie,
      'hx-request': 'true',
    });
    assert.equal(empty.status, 400);
    assert.match(empty.body, /paste your share/);
    // An htmx request gets the panel alone, with a fresh, empty textarea.
    assert.match(empty.body, /^<section class="panel" id="unseal-panel">/);
    assert.match(empty.body, /<textarea[^>]*><\/textarea>/);
  });

  it('answers only IP, localhost and onion host names (no DNS rebinding)', async () => {
    const rebound = await rawRequest(host.port, {
      path: '/unseal',
      headers: { host: 'attacker.example:80' },
    });
    assert.equal(rebound.status, 421);
    for (const name of [`localhost:${host.port}`, `[::1]:${host.port}`, `${'a'.repeat(56)}.onion`]) {
      assert.equal(
        (await rawRequest(host.port, { path: '/unseal', headers: { host: name } })).status,
        200,
        name,
      );
    }
  });

  it('rate-limits submissions per client address: the sixth in a burst gets 429 and Retry-After', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      statuses.push((await post('127.0.0.3', formBody({ share: 'x' }))).status);
    }
    assert.deepEqual(statuses, [403, 403, 403, 403, 403, 429]);
    const limited = await post('127.0.0.3', formBody({ share: 'x' }));
    assert.equal(limited.status, 429);
    assert.match(limited.body, /Too many submissions from your address/);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    // Another address is not affected.
    const { cookie, token } = await formToken(host.port, '127.0.0.5');
    const other = await post('127.0.0.5', formBody({ csrf: token, share: host.shares.alice }), { cookie });
    assert.equal(other.status, 200);
    assert.match(other.body, /1 of 2 shares given \(share 1\)/);
  });

  it('audits the one share that reached the vault with its client address; refusals never called it', async () => {
    const { entries } = await host.hostd.mvctlJson<{ entries: AuditEntry[] }>([
      'audit',
      'list',
      '--limit',
      '1000',
    ]);
    const unseals = entries.filter((entry) => entry.action === 'vault.unseal');
    assert.deepEqual(
      unseals.map((entry) => [entry.actor, entry.result, (entry.details as { client: string }).client]),
      [[{ user: 'custodian', role: 'operator', via: 'web' }, 'ok', '127.0.0.5']],
    );
    const statusReads = entries.filter(
      (entry) => entry.action === 'vault.status' && entry.actor.via === 'web',
    );
    assert.ok(statusReads.length > 0);
    assert.ok(!statusReads.some((entry) => (entry.details as { client: string }).client === '127.0.0.3'));
  });

  it('a port it cannot bind leaves hostd running without the web UI, and says so', async () => {
    const port = await freeLoopbackPort();
    const squatter = createServer();
    squatter.listen(port, '127.0.0.1');
    await once(squatter, 'listening');
    const root = await mkdtemp(join(tmpdir(), 'mv-web-taken-'));
    const second = new HostdProcess({
      root,
      env: { MULTIVERSE_WEB_LISTEN: `127.0.0.1:${port}`, MULTIVERSE_DISPOSABLE_POOL: 'none' },
    });
    try {
      await second.start();
      assert.match(second.log, /the web UI cannot start; hostd runs without it .*EADDRINUSE/);
      assert.equal((await second.mvctl(['vault', 'status'])).code, 0, 'mvctl still works');
    } finally {
      await second.stop('SIGKILL');
      squatter.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
