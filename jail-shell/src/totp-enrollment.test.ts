import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret, generateSync, verifySync } from 'otplib';
import { describeTotpEnrollment } from './totp-enrollment.js';

let workDir: string;

/**
 * Reads the terminal QR code back into modules: each character is two modules, top and bottom, drawn
 * by the foreground colour (▀ ▄ █) or left in the background colour; ANSI colours are followed.
 */
function modulesOfTerminalQr(text: string): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of text.split('\n')) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    let foregroundDark = false;
    let backgroundDark = false;
    // eslint-disable-next-line no-control-regex -- the QR code's colours are escape sequences
    for (const token of line.match(/\x1b\[\d+m|[^\x1b]/gu) ?? []) {
      if (token.startsWith('\x1b[')) {
        const code = Number(token.slice(2, -1));
        if (code === 0) foregroundDark = backgroundDark = false;
        else if (code === 30) foregroundDark = true;
        else if (code === 37) foregroundDark = false;
        else if (code === 40) backgroundDark = true;
        else if (code === 47) backgroundDark = false;
        continue;
      }
      top.push(token === '▀' || token === '█' ? foregroundDark : backgroundDark);
      bottom.push(token === '▄' || token === '█' ? foregroundDark : backgroundDark);
    }
    if (top.length > 0) rows.push(top, bottom);
  }
  return rows;
}

/** Writes modules as a PBM image with a quiet zone, 8 pixels a module, for zbarimg. */
async function writePbm(modules: boolean[][], path: string): Promise<void> {
  const scale = 8;
  const margin = 4;
  const width = Math.max(...modules.map((row) => row.length)) + 2 * margin;
  const height = modules.length + 2 * margin;
  const lines: string[] = [];
  for (let y = 0; y < height * scale; y += 1) {
    const row = modules[Math.floor(y / scale) - margin] ?? [];
    const pixels: string[] = [];
    for (let x = 0; x < width * scale; x += 1) pixels.push(row[Math.floor(x / scale) - margin] ? '1' : '0');
    lines.push(pixels.join(' '));
  }
  await writeFile(path, `P1\n${width * scale} ${height * scale}\n${lines.join('\n')}\n`);
}

describe('describeTotpEnrollment', () => {
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'jail-shell-totp-'));
  });
  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('gives an otpauth URI whose secret produces the codes the jail accepts', async () => {
    const secret = generateSecret();
    const { uri } = await describeTotpEnrollment({ issuer: 'Multiverse', account: 'alice@host', secret });
    const parsed = new URL(uri);
    assert.equal(parsed.protocol, 'otpauth:');
    assert.equal(parsed.host, 'totp');
    assert.equal(decodeURIComponent(parsed.pathname), '/Multiverse:alice@host');
    assert.equal(parsed.searchParams.get('secret'), secret);
    assert.equal(parsed.searchParams.get('issuer'), 'Multiverse');
    const code = generateSync({ secret: parsed.searchParams.get('secret') ?? '' });
    assert.equal(verifySync({ secret, token: code }).valid, true);
  });

  it('draws a QR code in the terminal that zbarimg decodes back to the URI', async () => {
    const secret = generateSecret();
    const { uri, qrCode } = await describeTotpEnrollment({
      issuer: 'Multiverse',
      account: 'bob@host',
      secret,
    });
    assert.ok(qrCode.includes('\x1b[47m'), 'drawn on a white background');
    const image = join(workDir, 'qr.pbm');
    await writePbm(modulesOfTerminalQr(qrCode), image);
    const decoded = spawnSync('zbarimg', ['--quiet', '--raw', image], { encoding: 'utf8' });
    assert.equal(decoded.status, 0, decoded.stderr);
    assert.equal(decoded.stdout.trim(), uri);
  });
});
