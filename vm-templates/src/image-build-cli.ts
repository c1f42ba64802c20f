#!/usr/bin/env node
// The guest image builder's command line: `image-build-cli NAME --images-dir DIR [--cache-dir DIR] [--rebuild]`.
// scripts/up.sh uses it for the default image; `mvctl image build` calls the same builder through hostd.
import { parseArgs } from 'node:util';
import { BUILDABLE_IMAGES, buildImageByName } from './images/image-catalog.js';
import { ImageError } from './images/image-error.js';
import type { ImageBuildProgress } from './images/image-store.js';

const usage =
  'usage: image-build-cli NAME --images-dir ABSOLUTE_DIR [--cache-dir ABSOLUTE_DIR] [--rebuild]\n' +
  `  NAME: ${BUILDABLE_IMAGES.join(', ')}\n` +
  '  --cache-dir  keep downloaded packages here between builds (debian)\n' +
  '  --rebuild    build even if an image from the same inputs is installed';

function fail(message: string, exitCode = 2): never {
  console.error(`error: ${message}`);
  process.exit(exitCode);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      'images-dir': { type: 'string' },
      'cache-dir': { type: 'string' },
      rebuild: { type: 'boolean', default: false },
    },
  });
} catch (error) {
  fail(`${(error as Error).message}\n${usage}`);
}
const [name, ...extra] = parsed.positionals;
const imagesDirectory = parsed.values['images-dir'];
const cacheDirectory = parsed.values['cache-dir'];
if (name === undefined || extra.length > 0 || imagesDirectory === undefined) fail(usage);

/** One line per step and per whole percent, so a log shows the build's pace without a line per package. */
function progressPrinter(): (progress: ImageBuildProgress) => void {
  let lastKey = '';
  return (progress) => {
    const percent = Math.floor(progress.fraction * 100);
    const key = `${progress.step} ${percent}`;
    if (key === lastKey) return;
    lastKey = key;
    console.log(`[${String(percent).padStart(3)}%] ${progress.image} ${progress.step}: ${progress.detail}`);
  };
}

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
const started = performance.now();
try {
  const image = await buildImageByName({
    name,
    imagesDirectory,
    ...(cacheDirectory === undefined ? {} : { cacheDirectory }),
    reuseCached: !parsed.values.rebuild,
    onProgress: progressPrinter(),
    signal: controller.signal,
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${image.reused ? 'already built' : `built in ${seconds} s`}: ${image.ref}`);
  console.log(image.directory);
} catch (error) {
  if (error instanceof ImageError) fail(`${error.code}: ${error.message}`, 1);
  throw error;
}
