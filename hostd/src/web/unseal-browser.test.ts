// The unseal page in a real browser (Debian's chromium through playwright-core) against a real hostd: a typo
// named by line, a foreign share refused, a duplicate refused, two good shares one at a time until the vault
// is unsealed — as `mvctl vault status` then agrees — with the textarea empty after every submission, no share
// ever on the page, no CSP violation, and every submission audited as via web with the client's address.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import type { AuditEntry } from '../audit/index.js';
import type { VaultStatusReport } from '../vault/index.js';
import { foreignShareText, shareDataLines, startWebTestHost, withTypo } from './testing/web-test-hostd.js';
import type { WebTestHost } from './testing/web-test-hostd.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/unseal.png';

describe('the unseal page in chromium', { timeout: 180_000 }, () => {
  let host: WebTestHost;
  let browser: Browser;
  let page: Page;
  const consoleProblems: string[] = [];
  let navigations = 0;

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)`,
    );
    host = await startWebTestHost('mv-web-browser-');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Chromium refuses to start its sandbox as root, which is how these tests run.
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    // A phone-sized window: the page must read well there.
    page = await browser.newPage({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 1 });
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') consoleProblems.push(message.text());
    });
    page.on('pageerror', (error) => consoleProblems.push(error.message));
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
  });

  /** An element's text with its whitespace collapsed, as a reader sees it. */
  async function textOf(selector: string, on: Page = page): Promise<string> {
    return ((await on.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();
  }

  async function submit(share: string): Promise<string> {
    await page.fill('#share', share);
    const before = await page.locator('#unseal-result').count();
    assert.ok(before <= 1);
    await Promise.all([
      page.waitForResponse(
        (response) => response.url().endsWith('/unseal') && response.request().method() === 'POST',
      ),
      page.click('button[type=submit]'),
    ]);
    await page.waitForSelector('#unseal-result');
    return textOf('#unseal-result');
  }

  async function assertNoShareOnPage(): Promise<void> {
    const content = await page.content();
    for (const text of Object.values(host.shares)) {
      for (const line of shareDataLines(text))
        assert.ok(!content.includes(line), 'a share line is on the page');
    }
    if ((await page.locator('#share').count()) > 0) {
      assert.equal(await page.inputValue('#share'), '', 'the textarea is cleared after a submission');
    }
  }

  it('shows the sealed vault: its id, state and progress 0 of 2, with htmx loaded from hostd', async () => {
    await page.goto(`${host.baseUrl}/unseal`);
    await page.waitForFunction("'htmx' in window");
    assert.equal(await textOf('#vault-id'), host.vaultId);
    assert.equal(await textOf('#vault-state'), 'sealed');
    assert.equal(await textOf('#unseal-progress'), '0 of 2 shares given');
    assert.equal(await page.title(), 'Unseal · Multiverse');
  });

  it('names the line of a typo and takes nothing; the textarea is empty again', async () => {
    const result = await submit(withTypo(host.shares.alice, 3));
    assert.match(result, /Share not accepted/);
    assert.match(result, /share line 3 \(line 5 of the text\) has a typo/);
    assert.match(result, /SHARE_CHECKSUM/);
    assert.equal(await textOf('#unseal-progress'), '0 of 2 shares given');
    await assertNoShareOnPage();
    // caret 'initial': Playwright would otherwise inject a style to hide the caret, which our CSP blocks.
    await page.screenshot({ path: SCREENSHOT, fullPage: true, caret: 'initial' });
  });

  it('refuses a share of another vault, naming both vaults', async () => {
    const result = await submit(await foreignShareText(host.root));
    assert.match(result, /SHARE_FOREIGN/);
    assert.ok(result.includes(host.vaultId), `the message names this vault: ${result}`);
    assert.equal(await textOf('#unseal-progress'), '0 of 2 shares given');
    await assertNoShareOnPage();
  });

  it('takes good shares one at a time: 1 of 2, a duplicate refused, then unsealed', async () => {
    assert.match(await submit(host.shares.alice), /Share accepted: 1 of 2 shares given \(share 1\)/);
    assert.equal(await textOf('#unseal-progress'), '1 of 2 shares given (share 1)');
    await assertNoShareOnPage();

    const duplicate = await submit(host.shares.alice);
    assert.match(duplicate, /SHARE_DUPLICATE/);
    assert.equal(await textOf('#unseal-progress'), '1 of 2 shares given (share 1)');

    // Another tab sees the same session: the progress is the vault's, not the page's.
    const second = await browser.newPage();
    await second.goto(`${host.baseUrl}/unseal`);
    assert.equal(await textOf('#unseal-progress', second), '1 of 2 shares given (share 1)');
    await second.close();

    assert.match(await submit(host.shares.bob), /the vault is unsealed/);
    assert.equal(await textOf('#vault-state'), 'unsealed');
    assert.equal(await page.locator('form').count(), 0, 'an unsealed vault offers nothing');
    assert.equal(await page.locator('textarea').count(), 0);
    await assertNoShareOnPage();

    const status = await host.hostd.mvctlJson<VaultStatusReport>(['vault', 'status']);
    assert.equal(status.state, 'unsealed');
    await page.reload();
    assert.match(await textOf('main'), /The vault is unsealed\. There is nothing to do here\./);
  });

  it('swapped the panel with htmx (one navigation per page load) and broke no CSP rule', () => {
    // goto + reload: every submission was an htmx request, not a page load.
    assert.equal(navigations, 2);
    // Refusals are 4xx answers the browser logs as failed loads; anything else (a CSP violation) is a fault.
    assert.deepEqual(
      consoleProblems.filter((text) => !/responded with a status of (400|409)/.test(text)),
      [],
    );
  });

  it('audited every submission as the web custodian with the client address, and no share', async () => {
    const { entries } = await host.hostd.mvctlJson<{ entries: AuditEntry[] }>([
      'audit',
      'list',
      '--limit',
      '1000',
    ]);
    const unseals = entries.filter((entry) => entry.action === 'vault.unseal');
    assert.deepEqual(
      unseals.map((entry) => [entry.actor.via, entry.actor.user, entry.result]),
      [
        ['web', 'custodian', 'failed'],
        ['web', 'custodian', 'failed'],
        ['web', 'custodian', 'ok'],
        ['web', 'custodian', 'failed'],
        ['web', 'custodian', 'ok'],
      ],
    );
    for (const entry of unseals) {
      assert.equal((entry.details as { client?: string }).client, '127.0.0.1');
    }
    assert.deepEqual(
      unseals.map((entry) => (entry.details as { input: { shareIndex: number | null } }).input.shareIndex),
      // The typo'd share cannot be read, so its index is unknown; the foreign one is its vault's share 1.
      [null, 1, 1, 1, 2],
    );
    const log = JSON.stringify(entries);
    for (const text of Object.values(host.shares)) {
      for (const line of shareDataLines(text))
        assert.ok(!log.includes(line), 'a share line is in the audit log');
    }
  });
});
