import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestJson } from '../image-manifest.js';
import type { ImageProductionContext, ImageRecipe } from '../image-recipe.js';

/**
 * A complete recipe whose "kernel" and "initramfs" are derived from a seed: the store's behaviour
 * (atomic install, cache, verification) does not depend on what the files contain.
 */
export class SeededRecipe implements ImageRecipe {
  productions = 0;

  constructor(
    readonly name: string,
    private readonly seed: string,
    private readonly extraFile?: string,
  ) {}

  resolveInputs() {
    const record = { seed: this.seed };
    return Promise.resolve({ digest: digestJson(record), record });
  }

  scratchSeen: string | undefined;

  async produce(_inputs: unknown, context: ImageProductionContext) {
    this.productions += 1;
    context.report(`writing files for ${this.seed}`, 0.5);
    this.scratchSeen = context.scratchDirectory;
    await writeFile(join(context.scratchDirectory, 'intermediate.raw'), 'scratch');
    await writeFile(join(context.directory, 'kernel.bin'), `kernel of ${this.seed}\n`);
    await writeFile(join(context.directory, 'initrd.bin'), `initrd of ${this.seed}\n`);
    if (this.extraFile !== undefined) await writeFile(join(context.directory, this.extraFile), 'stray');
    return {
      files: ['kernel.bin', 'initrd.bin'],
      boot: { kernel: 'kernel.bin', initramfs: 'initrd.bin', kernelArguments: 'console=ttyS0' },
      inputsRecord: { chosenDuringBuild: this.seed.length },
    };
  }
}
