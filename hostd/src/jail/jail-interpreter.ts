#!/usr/bin/env node
// The interpreter of one SSH jail session, run by HostdJailSessionLauncher inside the sandbox as
// `jail-interpreter.js --socket=PATH --user=NAME --role=ROLE [--exec=LINE]`. mvctl's commands (the
// `cli/` modules) load while the prompt is already on screen: keys typed meanwhile wait for them.
// The light `interpreter` entry of jail-shell keeps the server's native modules (ssh2, SQLite, node-pty)
// out of every session.
import { runInterpreterProcess } from '@multiverse/jail-shell/interpreter';

await runInterpreterProcess({
  extraOptions: ['socket'],
  handler: async ({ user, extra }) => {
    const { MvctlCommandHandler } = await import('./mvctl-command-handler.js');
    return new MvctlCommandHandler({ role: user.role, socket: extra['socket'] ?? '' });
  },
});
