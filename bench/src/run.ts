#!/usr/bin/env node
// `npm run bench -- NAME` runs one benchmark; no name runs them all, one after another.
import { benchmarks } from './registry.js';

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in benchmarks));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(', ')}. Known: ${Object.keys(benchmarks).join(', ')}`);
  process.exit(2);
}
for (const name of requested.length > 0 ? requested : Object.keys(benchmarks)) {
  await benchmarks[name]!();
}
