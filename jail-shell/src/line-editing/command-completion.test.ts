import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { completeCommandLine, type CompletableCommand } from './command-completion.js';

const COMMANDS: CompletableCommand[] = [
  { words: ['vm', 'list'], options: [{ name: 'json', takesValue: false }] },
  { words: ['vm', 'start'], options: [{ name: 'no-wait', takesValue: false }] },
  { words: ['vm', 'stop'] },
  {
    words: ['task', 'list'],
    options: [
      { name: 'state', takesValue: true, choices: ['queued', 'running', 'succeeded'] },
      { name: 'limit', takesValue: true },
    ],
  },
  { words: ['help'] },
  { words: ['whoami'] },
];

function complete(text: string): { start: number; candidates: readonly string[] } {
  return completeCommandLine(text, COMMANDS);
}

describe('completeCommandLine', () => {
  it('offers every first word on an empty line', () => {
    assert.deepEqual(complete(''), { start: 0, candidates: ['help', 'task', 'vm', 'whoami'] });
  });

  it('completes the first and second word of a command', () => {
    assert.deepEqual(complete('v'), { start: 0, candidates: ['vm'] });
    assert.deepEqual(complete('vm st'), { start: 3, candidates: ['start', 'stop'] });
    assert.deepEqual(complete('  vm   l'), { start: 7, candidates: ['list'] });
  });

  it('offers nothing for a word no command has', () => {
    assert.deepEqual(complete('rm '), { start: 3, candidates: [] });
    assert.deepEqual(complete('vm destroy '), { start: 11, candidates: [] });
  });

  it('offers the options of a whole command, without those already given', () => {
    assert.deepEqual(complete('task list --'), { start: 10, candidates: ['--limit', '--state'] });
    assert.deepEqual(complete('task list --state running --'), { start: 26, candidates: ['--limit'] });
    assert.deepEqual(complete('vm start web --n'), { start: 13, candidates: ['--no-wait'] });
  });

  it('offers the fixed values of an option that takes one', () => {
    assert.deepEqual(complete('task list --state r'), { start: 18, candidates: ['running'] });
    assert.deepEqual(complete('task list --limit '), { start: 18, candidates: [] });
  });

  it('does not guess free arguments', () => {
    assert.deepEqual(complete('vm start w'), { start: 9, candidates: [] });
  });

  it('leaves quoted words alone but reads quoted command words', () => {
    assert.deepEqual(complete('vm start "we'), { start: 12, candidates: [] });
    assert.deepEqual(complete("'vm' st"), { start: 5, candidates: ['start', 'stop'] });
    assert.deepEqual(complete('vm "st'), { start: 6, candidates: [] });
  });
});
