import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  assertBareWord,
  assertConfigKeyword,
  parseReplyArguments,
  quoteString,
  readQuoted,
} from './arguments.js';
import { TorControlError } from './errors.js';

const isInvalidArgument = (error: unknown): boolean =>
  error instanceof TorControlError && error.code === 'TOR_CONTROL_INVALID_ARGUMENT';

describe('quoteString', () => {
  it('escapes quotes, backslashes and line breaks so the value stays on one line', () => {
    const quoted = quoteString('a "b" \\ c\r\nSIGNAL HALT\t');
    assert.equal(quoted, '"a \\"b\\" \\\\ c\\r\\nSIGNAL HALT\\t"');
    assert.doesNotMatch(quoted, /[\r\n]/);
  });

  it('round-trips through the reply unescaper for any string without NUL', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }).filter((value) => !value.includes('\0')),
        (value) => {
          const quoted = quoteString(value);
          assert.doesNotMatch(quoted, /[\r\n]/);
          assert.deepEqual(readQuoted(quoted, 0), { value, end: quoted.length });
        },
      ),
    );
  });

  it('refuses NUL, which tor would silently cut the value at', () => {
    assert.throws(() => quoteString('a\0b'), isInvalidArgument);
  });
});

describe('readQuoted', () => {
  it('reads C escapes and octal bytes the way tor writes them', () => {
    assert.equal(readQuoted('"tab\\there\\nnew \\101\\302\\251"', 0).value, 'tab\there\nnew A©');
  });

  it('treats any other escaped character as itself', () => {
    assert.equal(readQuoted('"\\q\\"\\\\"', 0).value, 'q"\\');
  });

  it('rejects an unterminated string', () => {
    assert.throws(
      () => readQuoted('"abc', 0),
      (error: unknown) => error instanceof TorControlError && error.code === 'TOR_CONTROL_PROTOCOL',
    );
  });
});

describe('parseReplyArguments', () => {
  it('splits positional words from keyword arguments with quoted values', () => {
    const args = parseReplyArguments(
      'NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn SUMMARY="Connecting to a relay"',
    );
    assert.deepEqual(args.positional, ['NOTICE', 'BOOTSTRAP']);
    assert.deepEqual(
      [...args.keywords],
      [
        ['PROGRESS', '85'],
        ['TAG', 'ap_conn'],
        ['SUMMARY', 'Connecting to a relay'],
      ],
    );
  });

  it('keeps "=" inside values and quoted positional words', () => {
    const args = parseReplyArguments('"127.0.0.1:9050" "unix:/run/tor/socks" KEY=abc== ');
    assert.deepEqual(args.positional, ['127.0.0.1:9050', 'unix:/run/tor/socks']);
    assert.equal(args.keywords.get('KEY'), 'abc==');
  });

  it('does not mistake a relay name for a keyword', () => {
    const args = parseReplyArguments('1 BUILT $0123456789ABCDEF0123456789ABCDEF01234567=old');
    assert.equal(args.positional.length, 3);
    assert.equal(args.keywords.size, 0);
  });
});

describe('argument validation', () => {
  it('accepts configuration option names and rejects anything else', () => {
    assertConfigKeyword('__OwningControllerProcess');
    for (const bad of ['', 'Contact Info', 'A=B', 'x\ny'])
      assert.throws(() => assertConfigKeyword(bad), isInvalidArgument);
  });

  it('accepts GETINFO-style keys and rejects spaces, quotes and controls', () => {
    assertBareWord('ns/id/$0123456789ABCDEF0123456789ABCDEF01234567', 'key');
    for (const bad of ['', 'a b', 'a"b', 'a\r\nSIGNAL HALT'])
      assert.throws(() => assertBareWord(bad, 'key'), isInvalidArgument);
  });
});
