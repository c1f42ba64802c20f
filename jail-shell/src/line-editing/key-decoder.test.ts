import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyDecoder } from './key-decoder.js';

describe('KeyDecoder', () => {
  it('keeps printable text in one run and names editing keys', () => {
    assert.deepEqual(new KeyDecoder().decode('vm list\t\x7f\r'), [
      { kind: 'text', text: 'vm list' },
      { kind: 'tab' },
      { kind: 'backspace' },
      { kind: 'enter' },
    ]);
  });

  it('names control characters by letter', () => {
    assert.deepEqual(new KeyDecoder().decode('\x01\x05\x15\x17'), [
      { kind: 'control', letter: 'a' },
      { kind: 'control', letter: 'e' },
      { kind: 'control', letter: 'u' },
      { kind: 'control', letter: 'w' },
    ]);
  });

  it('decodes cursor keys in both modes, vt220 keys and Alt keys', () => {
    assert.deepEqual(new KeyDecoder().decode('\x1b[A\x1bOB\x1b[3~\x1b[1~\x1b[F\x1bb\x1b\x7f'), [
      { kind: 'up' },
      { kind: 'down' },
      { kind: 'delete' },
      { kind: 'home' },
      { kind: 'end' },
      { kind: 'word-left' },
      { kind: 'kill-word-left' },
    ]);
  });

  it('swallows unknown sequences whole, including OSC-like and private ones', () => {
    const keys = new KeyDecoder().decode('\x1b[200~x\x1b[?25hy\x1b[15;2~');
    assert.deepEqual(keys, [
      { kind: 'unknown' },
      { kind: 'text', text: 'x' },
      { kind: 'unknown' },
      { kind: 'text', text: 'y' },
      { kind: 'unknown' },
    ]);
  });

  it('never lets C1 control characters or NUL into text', () => {
    const keys = new KeyDecoder().decode('a\u0000b\u009bc');
    assert.deepEqual(
      keys.filter((key) => key.kind === 'text').map((key) => (key.kind === 'text' ? key.text : '')),
      ['a', 'b', 'c'],
    );
  });

  it('waits for the rest of a split sequence', () => {
    const decoder = new KeyDecoder();
    assert.deepEqual(decoder.decode('\x1b'), []);
    assert.deepEqual(decoder.decode('[1;5'), []);
    assert.deepEqual(decoder.decode('D'), [{ kind: 'word-left' }]);
  });
});
