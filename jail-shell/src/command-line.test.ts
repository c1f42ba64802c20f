import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCommandLine } from './command-line.js';

describe('parseCommandLine', () => {
  it('splits on whitespace and groups quoted words', () => {
    assert.deepEqual(parseCommandLine('  vm   start "my vm" \'it\'"s" '), {
      ok: true,
      argv: ['vm', 'start', 'my vm', 'its'],
    });
    assert.deepEqual(parseCommandLine('vm checkpoint ""'), { ok: true, argv: ['vm', 'checkpoint', ''] });
    assert.deepEqual(parseCommandLine(''), { ok: true, argv: [] });
  });

  it('keeps shell metacharacters as plain characters', () => {
    assert.deepEqual(parseCommandLine('vm start a;id|cat $(x) `y` >f &'), {
      ok: true,
      argv: ['vm', 'start', 'a;id|cat', '$(x)', '`y`', '>f', '&'],
    });
  });

  it('refuses control characters, escape sequences and unterminated quotes', () => {
    assert.equal(parseCommandLine('vm start \x1b[31mred').ok, false);
    assert.equal(parseCommandLine('whoami\nid').ok, false);
    assert.equal(parseCommandLine('vm start "open').ok, false);
    assert.equal(parseCommandLine('x'.repeat(5000)).ok, false);
  });

  it('round-trips any list of printable words when each is single-quoted', () => {
    const word = fc.string({
      unit: fc.constantFrom('a', 'b', ' ', ';', '"', '$', '|', '\\', '-'),
      maxLength: 12,
    });
    fc.assert(
      fc.property(fc.array(word, { maxLength: 6 }), (words) => {
        const line = words.map((w) => `'${w.replaceAll("'", '')}'`).join(' ');
        assert.deepEqual(parseCommandLine(line), { ok: true, argv: words.map((w) => w.replaceAll("'", '')) });
      }),
    );
  });
});
