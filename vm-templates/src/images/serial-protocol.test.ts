import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConsoleLineSplitter, formatReadyLine, parseReadyLine } from './serial-protocol.js';

const v1Line =
  'MULTIVERSE-READY v1 boot_id=a9ec892e-8f7b-4e0f-8aff-f2d12b0bc719 uptime=1.31 hostname=handtest';
const line =
  'MULTIVERSE-READY v2 boot_id=a9ec892e-8f7b-4e0f-8aff-f2d12b0bc719 uptime=1.31 hostname=handtest ' +
  'disks=vda,vdb nics=eth0';

describe('parseReadyLine', () => {
  it('reads the fields of a v2 announcement', () => {
    assert.deepEqual(parseReadyLine(line), {
      protocolVersion: 2,
      bootId: 'a9ec892e-8f7b-4e0f-8aff-f2d12b0bc719',
      uptimeSeconds: 1.31,
      hostname: 'handtest',
      disks: ['vda', 'vdb'],
      nics: ['eth0'],
    });
    assert.deepEqual(parseReadyLine(line.replace('disks=vda,vdb nics=eth0', 'disks= nics=')), {
      protocolVersion: 2,
      bootId: 'a9ec892e-8f7b-4e0f-8aff-f2d12b0bc719',
      uptimeSeconds: 1.31,
      hostname: 'handtest',
      disks: [],
      nics: [],
    });
  });

  it('still reads v1 announcements, with exactly the v1 fields', () => {
    assert.deepEqual(parseReadyLine(v1Line), {
      protocolVersion: 1,
      bootId: 'a9ec892e-8f7b-4e0f-8aff-f2d12b0bc719',
      uptimeSeconds: 1.31,
      hostname: 'handtest',
    });
  });

  it('skips key=value fields a later v2 guest may add after nics', () => {
    const extended = `${line} agent=1 modules=virtio_blk,virtio_net`;
    assert.deepEqual(parseReadyLine(extended), parseReadyLine(line));
  });

  it('ignores every line that is not exactly an announcement', () => {
    const others = [
      '',
      'handtest:/# echo MULTIVERSE-READY',
      `x${line}`,
      `${line} `,
      `${line}  extra=1`,
      `${line} Extra=1`,
      `${line} extra`,
      `${v1Line} disks=vda`,
      `${v1Line} `,
      line.replace('v2', 'v3'),
      line.replace('v2', 'v1'),
      line.replace(' nics=eth0', ''),
      line.replace('disks=vda,vdb', 'disks=vda,,vdb'),
      line.replace('disks=vda,vdb', 'disks=vda,'),
      line.replace('disks=vda,vdb', 'disks=v da'),
      line.replace('nics=eth0', 'nics=eth0/1'),
      line.replace('a9ec892e', 'A9EC892E'),
      line.replace('uptime=1.31', 'uptime=-1'),
      line.replace('handtest', 'Hand_test'),
      line.replace('handtest', '-handtest'),
      line.replace('handtest', 'a'.repeat(64)),
      v1Line.replace('uptime=1.31', 'uptime=1.31 extra=1'),
    ];
    for (const other of others) assert.equal(parseReadyLine(other), undefined, other);
  });

  it('parses what it formats, in both versions', () => {
    const common = {
      bootId: fc.uuid().map((uuid) => uuid.toLowerCase()),
      uptimeSeconds: fc.integer({ min: 0, max: 10_000_000 }).map((centiseconds) => centiseconds / 100),
      hostname: fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
    };
    const devices = fc.array(fc.stringMatching(/^[A-Za-z0-9_.:@!-]{1,32}$/), { maxLength: 8 });
    const announcement = fc.oneof(
      fc.record({ protocolVersion: fc.constant(1 as const), ...common }),
      fc.record({ protocolVersion: fc.constant(2 as const), ...common, disks: devices, nics: devices }),
    );
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
