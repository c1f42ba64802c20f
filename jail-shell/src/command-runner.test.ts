import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JailCommandRunner } from './command-runner.js';
import type { ShellCommandHandler } from './shell-commands.js';

const received: (readonly string[])[] = [];
const handler: ShellCommandHandler = {
  commands: () => [
    { words: ['vm', 'list'], usage: '', summary: 'list VMs', options: [{ name: 'json', takesValue: false }] },
  ],
  run: (argv, output) => {
    received.push(argv);
    if (argv[0] !== 'vm') return Promise.resolve({ kind: 'unknown' });
    output.stdout('listed\n');
    return Promise.resolve({ kind: 'ran', exitCode: 0 });
  },
};

async function run(
  line: string,
): Promise<{ exitCode: number; exitRequested: boolean; out: string; err: string }> {
  let out = '';
  let err = '';
  const outcome = await new JailCommandRunner(handler, { name: 'ann', role: 'viewer' }).runLine(line, {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
  });
  return { ...outcome, out, err };
}

describe('JailCommandRunner', () => {
  it('answers whoami, help and exit itself', async () => {
    assert.equal((await run('whoami')).out, 'ann (viewer)\n');
    const help = await run('help');
    assert.match(help.out, /^commands for ann \(viewer\):\n {2}vm list +list VMs\n/);
    assert.match(help.out, /exit +end the session/);
    assert.deepEqual(await run('  exit  '), { exitCode: 0, exitRequested: true, out: '', err: '' });
  });

  it('hands other commands to the handler as parsed words', async () => {
    received.length = 0;
    const result = await run(`vm list 'a b' ";"`);
    assert.equal(result.out, 'listed\n');
    assert.deepEqual(received, [['vm', 'list', 'a b', ';']]);
  });

  it('refuses unknown commands with 127 and unparsable lines with 2', async () => {
    const unknown = await run('rm -rf /');
    assert.equal(unknown.exitCode, 127);
    assert.match(unknown.err, /unknown command: "rm" — this is not a system shell/);
    const escape = await run('vm list \u001b[2J');
    assert.equal(escape.exitCode, 2);
    assert.match(escape.err, /control characters/);
    assert.equal((await run('vm "list')).exitCode, 2);
    assert.equal((await run('   ')).exitCode, 0);
  });

  it('offers built-ins and the handler’s commands for completion', () => {
    const words = new JailCommandRunner(handler, { name: 'ann', role: 'viewer' })
      .completable()
      .map((command) => command.words.join(' '));
    assert.deepEqual(words, ['help', 'whoami', 'exit', 'vm list']);
  });
});
