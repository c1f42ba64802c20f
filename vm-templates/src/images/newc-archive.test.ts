import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NewcEntryError, writeNewcArchive } from './newc-archive.js';
import type { NewcEntry } from './newc-archive.js';

/** GNU cpio is the independent reader: what it lists is what the archive holds. */
function cpioList(archive: Buffer, verbose = false): string[] {
  const output = execFileSync('cpio', ['--extract', '--list', '--quiet', ...(verbose ? ['--verbose'] : [])], {
    input: archive,
    env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' },
  });
  return output.toString('utf8').split('\n').filter(Boolean);
}

const sample: NewcEntry[] = [
  { kind: 'file', path: 'bin/busybox', mode: 0o755, contents: Buffer.from('#!binary\n') },
  { kind: 'directory', path: 'bin', mode: 0o755 },
  { kind: 'symlink', path: 'bin/sh', target: '/bin/busybox' },
  { kind: 'directory', path: 'dev', mode: 0o755 },
  { kind: 'character-device', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
  { kind: 'directory', path: 'tmp', mode: 0o1777 },
  { kind: 'file', path: 'init', mode: 0o755, contents: Buffer.from('#!/bin/sh\necho odd-length\n') },
];

describe('writeNewcArchive', () => {
  it('writes an archive GNU cpio lists in sorted order with types, modes, owners and targets', () => {
    const archive = writeNewcArchive(sample, { mtime: 0 });
    assert.deepEqual(cpioList(archive), [
      'bin',
      'bin/busybox',
      'bin/sh',
      'dev',
      'dev/console',
      'init',
      'tmp',
    ]);
    const verbose = cpioList(archive, true).map((line) => line.split(/\s+/));
    const fields = (path: string): string[] => {
      const found = verbose.find((line) => (line[0]?.startsWith('l') ? line.at(-3) : line.at(-1)) === path);
      assert.ok(found, `${path} is listed`);
      return found;
    };
    assert.deepEqual(fields('bin/busybox').slice(0, 5), ['-rwxr-xr-x', '1', 'root', 'root', '9']);
    assert.deepEqual(fields('bin/sh').slice(-3), ['bin/sh', '->', '/bin/busybox']);
    assert.equal(fields('bin/sh')[0], 'lrwxrwxrwx');
    assert.deepEqual(fields('dev/console').slice(0, 6), ['crw-------', '1', 'root', 'root', '5,', '1']);
    assert.equal(fields('tmp')[0], 'drwxrwxrwt');
    for (const line of verbose) assert.ok(line.includes('1970'), `mtime is the epoch: ${line.join(' ')}`);
  });

  it('round-trips file contents and symlink targets through extraction', () => {
    const directory = mkdtempSync(join(tmpdir(), 'newc-extract-'));
    try {
      const files = sample.filter((entry) => entry.kind !== 'character-device');
      execFileSync('cpio', ['--extract', '--make-directories', '--no-absolute-filenames', '--quiet'], {
        cwd: directory,
        input: writeNewcArchive(files, { mtime: 1_700_000_000 }),
      });
      assert.equal(readFileSync(join(directory, 'init'), 'utf8'), '#!/bin/sh\necho odd-length\n');
      assert.equal(readFileSync(join(directory, 'bin/busybox'), 'utf8'), '#!binary\n');
      assert.equal(readlinkSync(join(directory, 'bin/sh')), '/bin/busybox');
      assert.equal(statSync(join(directory, 'init')).mode & 0o7777, 0o755);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('gives identical bytes for the same entries in any order', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(sample, { minLength: sample.length, maxLength: sample.length }),
        (shuffled) => {
          assert.ok(writeNewcArchive(shuffled, { mtime: 0 }).equals(writeNewcArchive(sample, { mtime: 0 })));
        },
      ),
    );
  });

  it('lists exactly the paths of any generated tree, aligned to 4 bytes', () => {
    const segment = fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,11}$/).filter((name) => name !== '..');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(segment, segment, fc.uint8Array({ maxLength: 37 })), {
          selector: ([directory, file]) => `${directory}/${file}`,
          maxLength: 12,
        }),
        (tree) => {
          const directories = [...new Set(tree.map(([directory]) => directory))];
          const entries: NewcEntry[] = [
            ...directories.map((path) => ({ kind: 'directory' as const, path, mode: 0o755 })),
            ...tree.map(([directory, file, bytes]) => ({
              kind: 'file' as const,
              path: `${directory}/${file}`,
              mode: 0o644,
              contents: Buffer.from(bytes),
            })),
          ];
          const archive = writeNewcArchive(entries, { mtime: 0 });
          assert.equal(archive.length % 4, 0);
          assert.deepEqual(cpioList(archive), entries.map((entry) => entry.path).sort());
        },
      ),
      { numRuns: 40 },
    );
  });

  it('rejects entries the kernel would unpack somewhere unexpected', () => {
    const directory: NewcEntry = { kind: 'directory', path: 'etc', mode: 0o755 };
    const file = (path: string): NewcEntry => ({
      kind: 'file',
      path,
      mode: 0o644,
      contents: Buffer.alloc(0),
    });
    const cases: [NewcEntry[], RegExp][] = [
      [[file('/etc')], /must be relative/],
      [[directory, file('etc/../passwd')], /must be relative/],
      [[file('./init')], /must be relative/],
      [[file('etc/passwd')], /no directory entry for etc/],
      [[directory, directory], /appears twice/],
      [[file('TRAILER!!!')], /must be relative|reserved/],
      [[{ kind: 'directory', path: 'tmp', mode: 0o17777 }], /within 0o7777/],
      [[{ kind: 'symlink', path: 'sh', target: '' }], /non-empty target/],
      [[{ kind: 'character-device', path: 'console', mode: 0o600, major: 5000, minor: 1 }], /major/],
    ];
    for (const [entries, message] of cases) {
      assert.throws(
        () => writeNewcArchive(entries, { mtime: 0 }),
        (error: unknown) => {
          assert.ok(error instanceof NewcEntryError);
          assert.match(error.message, message);
          return true;
        },
      );
    }
    assert.throws(() => writeNewcArchive([], { mtime: -1 }), NewcEntryError);
  });
});
