import { BUILDABLE_IMAGES, IMAGE_REF_PATTERN } from '@multiverse/vm-templates';
import { z } from 'zod';
import type { TaskRecord } from '../tasks/index.js';
import type { ImageListing } from '../vm-engine/index.js';
import { defineVerb } from './verb.js';

export const imageVerbs = {
  'image.build': defineVerb({
    summary: 'build a guest image (tiny: seconds; debian: debootstrap, a minute or more), as a task',
    input: z.strictObject({
      name: z.enum(BUILDABLE_IMAGES, { error: `one of ${BUILDABLE_IMAGES.join(', ')}` }),
      /** Build again even when a build of the same inputs is installed (picks up Debian security updates). */
      rebuild: z.boolean().default(false),
    }),
    target: (input) => input.name,
    run: ({ vms, tasks, actor }, input): Promise<{ task: TaskRecord }> =>
      Promise.resolve({ task: vms.buildImageAsTask(tasks, input.name, input.rebuild, actor) }),
  }),
  'image.list': defineVerb({
    summary: 'the installed guest images: reference, build time, size (no hashing)',
    input: z.strictObject({}),
    target: () => 'images',
    run: ({ vms }): Promise<ImageListing> => vms.listImages(),
  }),
  'image.verify': defineVerb({
    summary: 're-hash every file of an image against its manifest',
    input: z.strictObject({
      ref: z
        .string()
        .regex(IMAGE_REF_PATTERN, { message: 'an image reference: NAME@SHA256 (64 hex digits)' }),
    }),
    target: (input) => input.ref,
    run: ({ vms }, input): Promise<{ ref: string; files: number; verified: true }> =>
      vms.verifyImage(input.ref),
  }),
};
