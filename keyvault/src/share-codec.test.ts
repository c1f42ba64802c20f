import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { VaultError } from './errors.js';
import {
  encodeSharePayload,
  formatShareCompact,
  formatShareText,
  parseShareText,
  payloadLines,
  shareLines,
  shareTextProgress,
} from './share-codec.js';
import type { PlainShare, VaultShare } from './share.js';

const shareArbitrary: fc.Arbitrary<VaultShare> = fc
  .record({
    vaultId: fc.uint8Array({ minLength: 10, maxLength: 10 }),
    shareSet: fc.integer({ min: 0, max: 0xffff }),
    shareCount: fc.integer({ min: 2, max: 255 }),
    thresholdSeed: fc.nat(),
    indexSeed: fc.nat(),
    encrypted: fc.boolean(),
    y: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    x: fc.integer({ min: 1, max: 255 }),
    ephemeral: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    sealed: fc.uint8Array({ minLength: 49, maxLength: 49 }),
  })
  .map((r): VaultShare => {
    const label = {
      vaultId: Buffer.from(r.vaultId),
      shareSet: r.shareSet,
      shareCount: r.shareCount,
      threshold: 2 + (r.thresholdSeed % (r.shareCount - 1)),
      index: 1 + (r.indexSeed % r.shareCount),
    };
    return r.encrypted
      ? {
          ...label,
          encrypted: true,
          ephemeralPublicKey: Buffer.from(r.ephemeral),
          sealedPoint: Buffer.from(r.sealed),
        }
      : { ...label, encrypted: false, point: Buffer.concat([r.y, Buffer.of(r.x)]) };
  });

/** Characters a slip of the hand or a misread could produce. */
const typoCharacter = fc.constantFrom(
  ...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz #:-._/'.split(''),
);

function sameShare(a: VaultShare, b: VaultShare): boolean {
  return encodeSharePayload(a).equals(encodeSharePayload(b));
}

/** Parses the altered text: it must fail with a share error, or give back exactly the same share. */
function assertCaughtOrHarmless(original: VaultShare, altered: string): VaultError | undefined {
  try {
    assert.ok(sameShare(parseShareText(altered), original), `typo went unnoticed:\n${altered}`);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof VaultError, `unexpected error ${String(error)}`);
    assert.ok(['SHARE_FORMAT', 'SHARE_CHECKSUM'].includes(error.code), `${error.code}: ${error.message}`);
    return error;
  }
}

function sampleShare(): PlainShare {
  const point = randomBytes(33);
  point[32] = 77;
  return {
    vaultId: randomBytes(10),
    shareSet: 3,
    index: 2,
    shareCount: 5,
    threshold: 3,
    encrypted: false,
    point,
  };
}

describe('share text codec', () => {
  it('round-trips every share through the text form and the compact form', () => {
    fc.assert(
      fc.property(shareArbitrary, (share) => {
        assert.ok(sameShare(parseShareText(formatShareText(share, { custodian: 'Zoë' })), share));
        assert.ok(sameShare(parseShareText(formatShareCompact(share)), share));
      }),
      { numRuns: 300 },
    );
  });

  it('catches any single-character substitution and names the line it is on', () => {
    fc.assert(
      fc.property(shareArbitrary, fc.nat(), typoCharacter, (share, positionSeed, replacement) => {
        const text = formatShareText(share);
        const position = positionSeed % text.length;
        const altered = text.slice(0, position) + replacement + text.slice(position + 1);
        const error = assertCaughtOrHarmless(share, altered);
        const lineNumber = text.slice(0, position).split('\n').length;
        const line = text.split('\n')[lineNumber - 1]!;
        const column = position - text.lastIndexOf('\n', position - 1) - 1;
        const inData = !line.startsWith('#') && column > line.indexOf(':') + 1 && text[position] !== ' ';
        if (error !== undefined && inData) assert.equal(error.line, lineNumber, error.message);
      }),
      { numRuns: 2000 },
    );
  });

  it('catches any single deleted or inserted character', () => {
    fc.assert(
      fc.property(
        shareArbitrary,
        fc.nat(),
        typoCharacter,
        fc.boolean(),
        (share, positionSeed, extra, insert) => {
          const text = formatShareText(share);
          const position = positionSeed % text.length;
          const altered = insert
            ? text.slice(0, position) + extra + text.slice(position)
            : text.slice(0, position) + text.slice(position + 1);
          assertCaughtOrHarmless(share, altered);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('catches two swapped neighbouring characters', () => {
    fc.assert(
      fc.property(shareArbitrary, fc.nat(), (share, positionSeed) => {
        const text = formatShareText(share);
        const position = positionSeed % (text.length - 1);
        const altered =
          text.slice(0, position) + text[position + 1]! + text[position]! + text.slice(position + 2);
        assertCaughtOrHarmless(share, altered);
      }),
      { numRuns: 1000 },
    );
  });

  it('reads hand-typed variants: lower case, look-alike letters, no numbers, no spaces', () => {
    const share = sampleShare();
    const lines = shareLines(share);
    const typed = lines.map((line) => line.toLowerCase().replace(/0/g, 'o').replace(/1/g, 'l')).join('\n');
    assert.ok(sameShare(parseShareText(typed), share));
    assert.ok(sameShare(parseShareText(lines.join(' ')), share));
    assert.ok(sameShare(parseShareText(`\n\n${formatShareText(share)}\n\n`), share));
  });

  it('names a missing line, an extra line and lines out of order', () => {
    const share = sampleShare();
    const text = formatShareText(share).split('\n');
    const comments = text.filter((line) => line.startsWith('#')).length;

    const missingMiddle = text.filter((_, i) => i !== comments + 2).join('\n');
    assert.throws(() => parseShareText(missingMiddle), { code: 'SHARE_FORMAT', line: comments + 3 });

    const missingLast = text.slice(0, -1).join('\n');
    assert.throws(() => parseShareText(missingLast), { code: 'SHARE_FORMAT', message: /a line is missing/ });

    const unnumbered = shareLines(share);
    const extra = [...unnumbered, unnumbered[0]!].join('\n');
    assert.throws(() => parseShareText(extra), { code: 'SHARE_FORMAT', message: /extra line/ });

    const swapped = [...unnumbered];
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    assert.throws(() => parseShareText(swapped.join('\n')), { code: 'SHARE_CHECKSUM', line: 2 });
  });

  it('knows from the first line how many lines a share typed line by line still needs', () => {
    fc.assert(
      fc.property(shareArbitrary, (share) => {
        const text = formatShareText(share, { custodian: 'Zoë' }).split('\n');
        const needed = share.encrypted ? 11 : 6;
        const comments = text.filter((line) => line.startsWith('#')).length;
        for (let typed = 0; typed <= text.length; typed += 1) {
          const given = Math.max(0, typed - comments);
          assert.deepEqual(shareTextProgress(text.slice(0, typed).join('\n')), {
            linesGiven: given,
            linesNeeded: given === 0 ? undefined : needed,
            complete: given === needed,
          });
        }
        assert.equal(shareTextProgress(formatShareCompact(share)).complete, true);
        assert.equal(shareTextProgress(shareLines(share).join('')).complete, true);
      }),
      { numRuns: 100 },
    );
  });

  it('leaves a first line it cannot read to the parser, which names it', () => {
    const lines = shareLines(sampleShare());
    for (const first of [lines[0]!.slice(0, 12), `U${lines[0]!.slice(1)}`]) {
      const progress = shareTextProgress(first);
      assert.equal(progress.complete, true);
      assert.throws(() => parseShareText(first), { code: 'SHARE_FORMAT', line: 1 });
    }
  });

  it('says which character is not a share character', () => {
    const lines = shareLines(sampleShare());
    lines[3] = `${lines[3]!.slice(0, 5)}U${lines[3]!.slice(6)}`;
    assert.throws(() => parseShareText(lines.join('\n')), {
      code: 'SHARE_FORMAT',
      line: 4,
      message: /"U" \(character 6 of share line 4\)/,
    });
  });

  it('refuses a share of an unknown format version and impossible labels', () => {
    const share = sampleShare();
    const newer = encodeSharePayload(share);
    newer[0] = 2;
    assert.throws(() => parseShareText(payloadLines(newer).join('\n')), {
      code: 'SHARE_FORMAT',
      line: 1,
      message: /format version 2 is not supported/,
    });
    const flagged = encodeSharePayload(share);
    flagged[1] = 0x80;
    assert.throws(() => parseShareText(payloadLines(flagged).join('\n')), {
      code: 'SHARE_FORMAT',
      message: /unknown flags 128/,
    });
    assert.throws(() => parseShareText(formatShareText({ ...share, threshold: 6 })), {
      code: 'SHARE_FORMAT',
      message: /impossible/,
    });
    assert.throws(() => parseShareText(formatShareText({ ...share, point: Buffer.alloc(33) })), {
      code: 'SHARE_FORMAT',
      message: /x-coordinate is zero/,
    });
    assert.throws(() => parseShareText(''), { code: 'SHARE_FORMAT' });
    assert.throws(() => parseShareText('# only a comment'), { code: 'SHARE_FORMAT' });
  });
});
