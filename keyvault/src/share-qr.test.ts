import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import QRCode from 'qrcode';
import { formatShareCompact, parseShareText } from './share-codec.js';
import { shareQrPng, shareQrSegments, shareQrSvg } from './share-qr.js';
import type { PlainShare } from './share.js';

const zbarAvailable = spawnSync('zbarimg', ['--version']).status === 0;
const workDir = mkdtempSync(join(tmpdir(), 'keyvault-qr-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

function plainShare(): PlainShare {
  const point = randomBytes(33);
  point[32] = 9;
  return {
    vaultId: randomBytes(10),
    shareSet: 1,
    index: 1,
    shareCount: 3,
    threshold: 2,
    encrypted: false,
    point,
  };
}

describe('share QR codes', () => {
  it('carries the compact form in alphanumeric mode: a 37×37 code for a plain share', () => {
    const code = QRCode.create(shareQrSegments(plainShare()), { errorCorrectionLevel: 'M' });
    assert.equal(code.modules.size, 37);
    assert.deepEqual(
      code.segments.map((segment) => segment.mode.id),
      ['Alphanumeric'],
    );
  });

  it(
    'prints a PNG that a QR reader (zbarimg) scans back to the same share',
    { skip: zbarAvailable ? false : 'zbarimg missing: apt-get install zbar-tools' },
    async () => {
      const share = plainShare();
      const file = join(workDir, 'share.png');
      writeFileSync(file, await shareQrPng(share));
      const scanned = execFileSync('zbarimg', ['--quiet', '--raw', file], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      assert.equal(scanned, formatShareCompact(share));
      assert.deepEqual(parseShareText(scanned), share);
    },
  );

  it('renders an SVG of the same code for printing', async () => {
    const share = plainShare();
    const svg = await shareQrSvg(share);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 45 45"/);
    assert.match(svg, /<path stroke="#000000" d="M4 4\.5h7/);
  });
});
