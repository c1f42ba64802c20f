#!/usr/bin/env node
// The guest image builder's command line: `image-build-cli NAME --images-dir DIR`. scripts/up.sh uses it for
// the default image; `mvctl image build` will call the same builder through hostd.
import { parseArgs } from 'node:util';
import { isAbsolute } from 'node:path';
import { ImageError } from './images/image-error.js';
import { TINY_IMAGE_NAME, buildTinyImage } from './images/tiny/tiny-recipe.js';

const builders = { [TINY_IMAGE_NAME]: buildTinyImage } as const;
const usage = `usage: image-build-cli NAME --images-dir ABSOLUTE_DIR   (NAME: ${Object.keys(builders).join(', ')})`;

function fail(message: string, exitCode = 2): never {
  console.error(`error: ${message}`);
  process.exit(exitCode);
}

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { 'images-dir': { type: 'string' } } });
} catch (error) {
  fail(`${(error as Error).message}\n${usage}`);
}
const [name, ...extra] = parsed.positionals;
const imagesDirectory = parsed.values['images-dir'];
if (name === undefined || extra.length > 0) fail(usage);
if (!(name in builders)) fail(`unknown image "${name}". ${usage}`);
if (imagesDirectory === undefined || !isAbsolute(imagesDirectory))
  fail(`--images-dir must be an absolute path. ${usage}`);

try {
  const image = await builders[name as keyof typeof builders]({
    imagesDirectory,
    onProgress: (progress) => console.log(`  ${progress.image}: ${progress.step} ${progress.detail}`),
  });
  console.log(`${image.reused ? 'already built' : 'built'}: ${image.directory}`);
} catch (error) {
  if (error instanceof ImageError) fail(`${error.code}: ${error.message}`, 1);
  throw error;
}
