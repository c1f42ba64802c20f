import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConsoleLineSplitter, formatReadyLine, parseReadyLine } from './serial-protocol.js';

const line = 'MULTIVERSE-READY v1 boot_id=a9ec892e-8f7b-4e0f-8aff-f2d12b0bc719 uptime=1.31 hostname=handtest';

describe('parseReadyLine', () => {
  it('reads the fields of a v1 announcement', () => {
    assert.deepEqual(parseReadyLine(line), {
      protocolVersion: 1,
      bootId: 'a9ec892e-8f7b-4e0f-8aff-f2d12b0bc719',
      uptimeSeconds: 1.31,
      hostname: 'handtest',
    });
  });

  it('ignores every line that is not exactly a v1 announcement', () => {
    const others = [
      '',
      'handtest:/# echo MULTIVERSE-READY',
      `x${line}`,
      `${line} `,
      line.replace('v1', 'v2'),
      line.replace('a9ec892e', 'A9EC892E'),
      line.replace('uptime=1.31', 'uptime=-1'),
      line.replace('uptime=1.31', 'uptime=1.31 extra=1'),
      line.replace('handtest', 'Hand_test'),
      line.replace('handtest', '-handtest'),
      line.replace('handtest', 'a'.repeat(64)),
    ];
    for (const other of others) assert.equal(parseReadyLine(other), undefined, other);
  });

  it('parses what it formats', () => {
    const announcement = fc.record({
      protocolVersion: fc.constant(1 as const),
      bootId: fc.uuid().map((uuid) => uuid.toLowerCase()),
      uptimeSeconds: fc.integer({ min: 0, max: 10_000_000 }).map((centiseconds) => centiseconds / 100),
      hostname: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
    });
    fc.assert(
      fc.property(announcement, (value) =>
        assert.deepEqual(parseReadyLine(formatReadyLine(value)), { ...value }),
      ),
    );
  });
});

describe('ConsoleLineSplitter', () => {
  it('splits CRLF, LF and bare CR line ends and keeps the prompt as the partial line', () => {
    const splitter = new ConsoleLineSplitter();
    const console = Buffer.from(`\x1b[2J\r\n${line}\r\n\r\nboot\rover\nhandtest:/# `);
    assert.deepEqual(splitter.push(console), ['\x1b[2J', line, '', 'boot', 'over']);
    assert.equal(splitter.partialLine, 'handtest:/# ');
  });

  it('gives the same lines however the stream is cut into chunks', () => {
    const text = `one\r\n${line}\r\n\r\nthree\rfour\n\u00e9t\u00e9\r\nfive`;
    const bytes = Buffer.from(text, 'utf8');
    const whole = new ConsoleLineSplitter();
    const expected = whole.push(bytes);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 8 }), (cuts) => {
        const splitter = new ConsoleLineSplitter();
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
        const lines = bounds
          .slice(1)
          .flatMap((end, index) => splitter.push(bytes.subarray(bounds[index], end)));
        assert.deepEqual(lines, expected);
        assert.equal(splitter.partialLine, 'five');
      }),
    );
  });

  it('cuts a line that never ends at the configured length', () => {
    const splitter = new ConsoleLineSplitter(8);
    assert.deepEqual(splitter.push(Buffer.from('abcdefghijklmnopqrst')), ['abcdefgh', 'ijklmnop']);
    assert.equal(splitter.partialLine, 'qrst');
  });
});
