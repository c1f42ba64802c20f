#!/usr/bin/env node
import { runMvctl } from './run-mvctl.js';

process.exitCode = await runMvctl(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  terminal: { input: process.stdin, output: process.stdout },
});
// A console that was detached leaves stdin open (a pipe from a script, say): mvctl is done with it.
process.stdin.destroy();
