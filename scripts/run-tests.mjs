#!/usr/bin/env node
// Runs every compiled test file (`*/dist/**/*.test.js`) with node's own test runner, one file at a
// time: integration tests share libvirtd's test:///default state and the machine has two cores.
// Arguments, if any, are substrings that select test files (e.g. `npm test -- xdr`).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const packages = JSON.parse(
  (await import('node:fs')).readFileSync(join(root, 'package.json'), 'utf8'),
).workspaces;

function findTests(dir) {
  let found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found = found.concat(findTests(path));
    else if (entry.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = packages
  .flatMap((pkg) => {
    const dist = join(root, pkg, 'dist');
    try {
      return findTests(dist);
    } catch {
      return [];
    }
  })
  .filter((file) => filters.length === 0 || filters.some((filter) => relative(root, file).includes(filter)))
  .sort();

if (files.length === 0) {
  console.error('No compiled test files found: run `npm run build` first.');
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(result.status ?? 1);
