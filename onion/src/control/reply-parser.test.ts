import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TorControlError } from './errors.js';
import { ControlReplyParser, type ControlReply } from './reply-parser.js';

const crlf = (...lines: string[]): Buffer => Buffer.from(lines.map((line) => `${line}\r\n`).join(''));

// Reply texts below are written from control-spec.txt §2.3, §3.9 and §4.1.
describe('ControlReplyParser', () => {
  it('parses a one-line reply', () => {
    const [reply] = new ControlReplyParser().push(crlf('250 OK'));
    assert.deepEqual(reply, { status: 250, lines: [{ status: 250, kind: 'end', text: 'OK' }] });
  });

  it('groups mid lines with their end line', () => {
    const replies = new ControlReplyParser().push(
      crlf('250-PROTOCOLINFO 1', '250-AUTH METHODS=NULL', '250-VERSION Tor="0.4.9.11"', '250 OK'),
    );
    assert.equal(replies.length, 1);
    assert.deepEqual(
      replies[0]?.lines.map((line) => [line.kind, line.text]),
      [
        ['mid', 'PROTOCOLINFO 1'],
        ['mid', 'AUTH METHODS=NULL'],
        ['mid', 'VERSION Tor="0.4.9.11"'],
        ['end', 'OK'],
      ],
    );
  });

  it('reads a data block and undoes dot-stuffing', () => {
    const [reply] = new ControlReplyParser().push(
      crlf('250+config-text=', 'ContactInfo a', '..starts with a dot', '...two dots', '', '.', '250 OK'),
    );
    assert.deepEqual(reply?.lines[0], {
      status: 250,
      kind: 'data',
      text: 'config-text=',
      data: 'ContactInfo a\n.starts with a dot\n..two dots\n',
    });
    assert.deepEqual(reply?.lines[1], { status: 250, kind: 'end', text: 'OK' });
  });

  it('keeps a line of "250 OK" inside a data block as data', () => {
    const [reply] = new ControlReplyParser().push(crlf('250+x=', '250 OK', '.', '250 OK'));
    assert.equal(reply?.lines[0]?.data, '250 OK');
    assert.equal(reply?.lines.length, 2);
  });

  it('separates an asynchronous event from the reply around it', () => {
    const replies = new ControlReplyParser().push(
      crlf('650 CIRC 1000 EXTENDED moria1,moria2', '250-SOCKSPORT=9050', '250 ORPORT=0'),
    );
    assert.deepEqual(
      replies.map((reply) => reply.status),
      [650, 250],
    );
  });

  it('parses a multi-line event with a data block', () => {
    const [reply] = new ControlReplyParser().push(crlf('650+NS', 'r a b c', 's Running', '.', '650 OK'));
    assert.equal(reply?.status, 650);
    assert.equal(reply?.lines[0]?.data, 'r a b c\ns Running');
  });

  it('accepts bare LF line endings', () => {
    const [reply] = new ControlReplyParser().push(Buffer.from('250-a=1\n250 OK\n'));
    assert.equal(reply?.lines[0]?.text, 'a=1');
  });

  it('decodes UTF-8 text', () => {
    const [reply] = new ControlReplyParser().push(crlf('250 ContactInfo=José ⚡'));
    assert.equal(reply?.lines[0]?.text, 'ContactInfo=José ⚡');
  });

  it('yields the same replies however the bytes are split', () => {
    const stream = crlf(
      '250-version=0.4.9.11',
      '250+ns/all=',
      'r relay1 AAAA José ⚡',
      '..dotted',
      '.',
      '250 OK',
      '650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"',
      '552 Unrecognized key "nope"',
    );
    const whole = new ControlReplyParser().push(stream);
    assert.equal(whole.length, 3);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }),
        (cuts) => {
          const parser = new ControlReplyParser();
          const replies: ControlReply[] = [];
          let start = 0;
          for (const cut of [...cuts].sort((a, b) => a - b)) {
            replies.push(...parser.push(stream.subarray(start, cut)));
            start = cut;
          }
          replies.push(...parser.push(stream.subarray(start)));
          assert.deepEqual(replies, whole);
          assert.equal(parser.idle, true);
        },
      ),
    );
  });

  it('is not idle while a reply is incomplete', () => {
    const parser = new ControlReplyParser();
    assert.deepEqual(parser.push(crlf('250-a=1')), []);
    assert.equal(parser.idle, false);
    assert.equal(parser.push(crlf('250 OK')).length, 1);
    assert.equal(parser.idle, true);
  });

  it('rejects a line without a status code', () => {
    assert.throws(
      () => new ControlReplyParser().push(crlf('hello')),
      (error: unknown) => error instanceof TorControlError && error.code === 'TOR_CONTROL_PROTOCOL',
    );
  });

  it('rejects a reply whose lines change status code', () => {
    assert.throws(
      () => new ControlReplyParser().push(crlf('250-a=1', '251 OK')),
      (error: unknown) => error instanceof TorControlError && /changed the status code/.test(error.message),
    );
  });
});
