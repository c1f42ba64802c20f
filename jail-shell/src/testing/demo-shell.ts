#!/usr/bin/env node
// A session interpreter for jail-shell's own tests and demos: the built-ins, plus `echo-argv`, which
// prints the words it received as JSON so a test can see exactly what the command-line parser made of
// a line (metacharacters stay literal).
import { runInterpreterProcess } from '../interpreter-process.js';
import type { ShellCommandHandler } from '../shell-commands.js';

const demoHandler: ShellCommandHandler = {
  commands: () => [
    {
      words: ['echo-argv'],
      usage: '[WORDS…]',
      summary: 'print the words as JSON',
      options: [{ name: 'pretty', takesValue: false }],
    },
  ],
  run: (argv, output) => {
    const [command, ...rest] = argv;
    if (command === 'echo-argv') {
      output.stdout(`${JSON.stringify(rest)}\n`);
      return Promise.resolve({ kind: 'ran', exitCode: 0 });
    }
    return Promise.resolve({ kind: 'unknown' });
  },
};

await runInterpreterProcess({ handler: () => demoHandler });
