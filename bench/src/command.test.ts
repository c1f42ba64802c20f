import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { CommandError, runCommand, timed } from './command.js';

describe('runCommand', () => {
  it('resolves the output of a command that exits 0', async () => {
    assert.deepEqual(await runCommand('sh', ['-c', 'echo out; echo err >&2']), {
      stdout: 'out\n',
      stderr: 'err\n',
    });
  });

  it('rejects with the exit status and what the command wrote', async () => {
    await assert.rejects(runCommand('sh', ['-c', 'echo broken >&2; exit 3']), (error: unknown) => {
      assert.ok(error instanceof CommandError);
      assert.equal(error.code, 'BENCH_COMMAND_FAILED');
      assert.match(error.message, /exit status 3\): broken/);
      return true;
    });
  });

  it('kills a command that runs past its bound', async () => {
    await assert.rejects(runCommand('sleep', ['10'], { timeoutMs: 50 }), /killed after 50 ms/);
  });

  it('names the package to install when the executable is missing', async () => {
    await assert.rejects(runCommand('no-such-tool-mvbench', [], { package: 'mvbench-tools' }), {
      code: 'BENCH_COMMAND_NOT_FOUND',
      message: /apt-get install mvbench-tools/,
    });
  });
});

describe('timed', () => {
  it('returns the value and the wall-clock seconds', async () => {
    const { value, seconds } = await timed(async () => {
      await sleep(30);
      return 'done';
    });
    assert.equal(value, 'done');
    assert.ok(seconds >= 0.025 && seconds < 5, `took ${seconds} s`);
  });
});
