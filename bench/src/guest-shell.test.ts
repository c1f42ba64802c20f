import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { GuestShellError, guestShellOk, runInGuestShell, whenGuestShellAnswers } from './guest-shell.js';

const shells: ChildProcessWithoutNullStreams[] = [];

/**
 * A serial console as the tiny guest presents it: busybox's shell (the guest's own) behind a terminal that
 * echoes each typed line after a prompt with an escape sequence, stdout and stderr on the one line.
 * `dropFirstLines` lines typed are echoed but never reach the shell, as with a shell still starting.
 */
function busyboxConsole(dropFirstLines = 0): Duplex {
  // stderr joins stdout in the shell itself, so that the two keep their order as on a terminal.
  const shell = spawn('busybox', ['sh', '-c', 'exec busybox sh 2>&1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  shells.push(shell);
  const screen = new PassThrough();
  shell.stdout.pipe(screen);
  let dropped = 0;
  const keyboard = new Writable({
    write(chunk: Buffer, _encoding, done) {
      screen.write(`\u001b[1mtiny:/# \u001b[0m${chunk.toString().replaceAll('\n', '\r\n')}`);
      if (dropped < dropFirstLines) {
        dropped++;
        done();
      } else shell.stdin.write(chunk, done);
    },
  });
  return Duplex.from({ readable: screen, writable: keyboard });
}

after(() => {
  for (const shell of shells) shell.kill('SIGKILL');
});

describe('runInGuestShell', () => {
  it("returns what the command printed and its exit status, without the terminal's echo", async () => {
    const console = busyboxConsole();
    const listed = await runInGuestShell(console, 'echo one; echo two; false', 10_000);
    assert.deepEqual(listed, { lines: ['one', 'two'], exitCode: 1 });
    const again = await runInGuestShell(console, 'printf "x y\\n" >&2', 10_000);
    assert.deepEqual(again, { lines: ['x y'], exitCode: 0 }, 'stderr is on the console too');
    assert.equal(console.listenerCount('data'), 0, 'stops reading once the command ended');
  });

  it('refuses a command of more than one line', () => {
    assert.throws(() => runInGuestShell(new PassThrough(), 'true\nreboot', 1_000), RangeError);
  });

  it('fails with the timeout when the shell does not answer', async () => {
    const silent = new PassThrough();
    silent.on('data', () => undefined); // swallows what is typed, prints nothing
    await assert.rejects(runInGuestShell(silent, 'true', 100), (error: unknown) => {
      assert.ok(error instanceof GuestShellError);
      assert.equal(error.code, 'BENCH_GUEST_SHELL_TIMEOUT');
      assert.match(error.message, /no start of output of "true" within \d+ ms/);
      return true;
    });
  });

  it('fails when the console closes while the command runs', async () => {
    const console = busyboxConsole();
    await assert.rejects(runInGuestShell(console, 'exit 0', 10_000), (error: unknown) => {
      assert.ok(error instanceof GuestShellError);
      assert.equal(error.code, 'BENCH_GUEST_SHELL_CLOSED');
      return true;
    });
  });
});

describe('guestShellOk', () => {
  it('rejects a command that exits non-zero, quoting its output', async () => {
    await assert.rejects(
      guestShellOk(busyboxConsole(), 'echo no such disk; (exit 3)', 10_000),
      (error: unknown) => {
        assert.ok(error instanceof GuestShellError);
        assert.equal(error.code, 'BENCH_GUEST_COMMAND_FAILED');
        assert.match(error.message, /exited 3 in the guest: no such disk/);
        return true;
      },
    );
  });
});

describe('whenGuestShellAnswers', () => {
  it('types its probe again until the shell answers', async () => {
    const console = busyboxConsole(2);
    await whenGuestShellAnswers(console, 5, 1_000);
    assert.deepEqual(await runInGuestShell(console, 'echo ready', 10_000), { lines: ['ready'], exitCode: 0 });
  });

  it('gives up after its attempts', async () => {
    await assert.rejects(whenGuestShellAnswers(busyboxConsole(3), 2, 300), (error: unknown) => {
      assert.ok(error instanceof GuestShellError);
      assert.equal(error.code, 'BENCH_GUEST_SHELL_TIMEOUT');
      return true;
    });
  });
});
