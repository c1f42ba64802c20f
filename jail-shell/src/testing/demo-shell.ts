#!/usr/bin/env node
// A session interpreter for jail-shell's own tests and demos: the built-ins, plus `echo-argv`, which
// prints the words it received as JSON so a test can see exactly what the command-line parser made of
// a line (metacharacters stay literal), and `key-codes`, which takes the terminal over like a console
// would and prints every chunk it reads as hex until Ctrl-], and `ask-pair`, which asks for a name
// (shown) and a secret (hidden) and prints the name and the secret's length.
import { runInterpreterProcess } from '../interpreter-process.js';
import type {
  ShellCommandHandler,
  ShellCommandOutput,
  ShellCommandResult,
  TerminalLease,
} from '../shell-commands.js';

const demoHandler: ShellCommandHandler = {
  commands: () => [
    {
      words: ['echo-argv'],
      usage: '[WORDS…]',
      summary: 'print the words as JSON',
      options: [{ name: 'pretty', takesValue: false }],
    },
    {
      words: ['key-codes'],
      usage: '',
      summary: 'print the bytes of each key as hex; Ctrl-] ends',
      options: [],
    },
    {
      words: ['ask-pair'],
      usage: '',
      summary: 'ask for a name and a secret, print the name and the secret’s length',
      options: [],
    },
  ],
  run: (argv, output) => {
    const [command, ...rest] = argv;
    if (command === 'echo-argv') {
      output.stdout(`${JSON.stringify(rest)}\n`);
      return Promise.resolve({ kind: 'ran', exitCode: 0 });
    }
    if (command === 'key-codes' && output.takeTerminal) return showKeyCodes(output.takeTerminal());
    if (command === 'ask-pair') return askPair(output);
    return Promise.resolve({ kind: 'unknown' });
  },
};

function showKeyCodes(lease: TerminalLease): Promise<ShellCommandResult> {
  return new Promise((resolve) => {
    lease.output.write('reading keys; Ctrl-] ends\r\n');
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      lease.output.write(`keys ${bytes.toString('hex')}\r\n`);
      if (bytes.includes(0x1d)) {
        lease.input.off('data', onData);
        lease.release();
        resolve({ kind: 'ran', exitCode: 0 });
      }
    };
    lease.input.on('data', onData);
  });
}

async function askPair(output: ShellCommandOutput): Promise<ShellCommandResult> {
  if (output.ask === undefined) {
    output.stderr('ask-pair needs the interactive shell\n');
    return { kind: 'ran', exitCode: 2 };
  }
  const name = await output.ask({ prompt: 'name: ' });
  const secret = name === undefined ? undefined : await output.ask({ prompt: 'secret: ', echo: false });
  if (name === undefined || secret === undefined) {
    output.stderr('given up\n');
    return { kind: 'ran', exitCode: 1 };
  }
  output.stdout(`${JSON.stringify({ name, secretLength: secret.length })}\n`);
  return { kind: 'ran', exitCode: 0 };
}

await runInterpreterProcess({ handler: () => demoHandler });
