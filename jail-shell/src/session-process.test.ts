import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSessionProcess, type JailSessionProcess } from './session-process.js';

// A program in the pty that reports what it reads as hex, writes every byte value it is asked for,
// and reports its window size when it changes: what a console attached later needs from the plumbing.
const PTY_PROGRAM = `
process.stdin.setRawMode(true);
process.stdout.on('resize', () => process.stdout.write('size ' + process.stdout.columns + 'x' + process.stdout.rows + '\\n'));
process.stdin.on('data', (data) => {
  if (data[0] === 0x71) process.exit(3);
  if (data[0] === 0x62) { process.stdout.write(Buffer.from([0x80, 0xff, 0x00, 0x1b, 0x9b, 0xc3])); return; }
  process.stdout.write('read ' + data.toString('hex') + '\\n');
});
process.stdout.write('ready\\n');
`;

function collect(process: JailSessionProcess): {
  chunks: { data: Buffer; stream: string }[];
  text: () => string;
} {
  const chunks: { data: Buffer; stream: string }[] = [];
  process.onOutput((data, stream) => chunks.push({ data, stream }));
  return { chunks, text: () => Buffer.concat(chunks.map((chunk) => chunk.data)).toString('latin1') };
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('spawnSessionProcess', () => {
  it('passes raw bytes both ways through a pty, follows resizes and reports the exit code', async () => {
    const child = spawnSessionProcess(
      { file: process.execPath, args: ['-e', PTY_PROGRAM], env: { PATH: '/usr/bin:/bin' } },
      { term: 'xterm', columns: 80, rows: 24 },
    );
    const output = collect(child);
    const exited = new Promise<number>((resolve) => child.onExit(resolve));
    await until('ready', () => output.text().includes('ready'));
    // Ctrl-C, ESC, a C1 byte and bytes that are not UTF-8 arrive as sent: the pty is raw.
    child.write(Buffer.from([0x03, 0x1b, 0x9b, 0xff, 0xfe]));
    await until('the echo', () => output.text().includes('read 031b9bfffe'));
    const before = output.chunks.length;
    child.write(Buffer.from('b'));
    await until('the bytes', () => output.text().includes('\x80\xff\x00\x1b\x9b\xc3'));
    assert.ok(output.chunks.slice(before).every((chunk) => Buffer.isBuffer(chunk.data)));
    child.resize(132, 43);
    await until('the new size', () => output.text().includes('size 132x43'));
    child.write(Buffer.from('q'));
    assert.equal(await exited, 3);
  });

  it('keeps stdout and stderr apart without a pty, closes input on EOF and exits with the code', async () => {
    const child = spawnSessionProcess({
      file: process.execPath,
      args: [
        '-e',
        "let n=0;process.stdin.on('data',d=>n+=d.length);process.stdin.on('end',()=>{process.stdout.write('got '+n);process.stderr.write('done');process.exit(7)})",
      ],
      env: { PATH: '/usr/bin:/bin' },
    });
    const output = collect(child);
    const exited = new Promise<number>((resolve) => child.onExit(resolve));
    child.write(Buffer.from('12345'));
    child.endInput();
    assert.equal(await exited, 7);
    const byStream = (stream: string): string =>
      Buffer.concat(
        output.chunks.filter((chunk) => chunk.stream === stream).map((chunk) => chunk.data),
      ).toString();
    assert.equal(byStream('stdout'), 'got 5');
    assert.equal(byStream('stderr'), 'done');
  });

  it('reports a killed process as 128 + the signal, and a listener added late still hears it', async () => {
    const child = spawnSessionProcess(
      { file: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], env: {} },
      { term: 'xterm', columns: 80, rows: 24 },
    );
    child.kill();
    const code = await new Promise<number>((resolve) => child.onExit(resolve));
    assert.equal(code, 128 + 9);
    assert.equal(await new Promise<number>((resolve) => child.onExit(resolve)), 137);
  });
});
