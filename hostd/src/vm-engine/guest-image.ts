import {
  ImageError,
  TINY_IMAGE_NAME,
  buildImageByName,
  listImages,
  verifyImageRef,
} from '@multiverse/vm-templates';
import type { ListedImage, VerifiedImage, VmTemplate } from '@multiverse/vm-templates';
import type { AuditActor } from '../audit/index.js';
import { ServiceError } from '../service/service-error.js';
import type { TaskManager, TaskRecord } from '../tasks/index.js';

function imageFailure(what: string, error: unknown): unknown {
  if (!(error instanceof ImageError)) return error;
  if (error.code === 'IMAGE_NOT_FOUND') {
    return new ServiceError(
      'not-found',
      'IMAGE_NOT_BUILT',
      `${what}: ${error.message}`,
      'build it first: `mvctl image build NAME`',
      {
        cause: error,
      },
    );
  }
  return new ServiceError(
    'upstream',
    error.code === 'IMAGE_TAMPERED' ? 'IMAGE_UNUSABLE' : 'IMAGE_BUILD_FAILED',
    `${what} failed (${error.code}): ${error.message}`,
    error.code === 'IMAGE_TAMPERED'
      ? 'rebuild the image (`mvctl image build NAME --rebuild`) and recreate the VMs on it'
      : 'fix what the message names (scripts/setup.sh installs the packages the builders read), then retry',
    { cause: error },
  );
}

/**
 * The image a template runs, verified (re-hashed). A pinned template gets exactly its build. Otherwise the tiny
 * image is built on first use (seconds, reproducible); larger images (debian: debootstrap, a minute or more) are
 * never built implicitly: the newest installed build is used, and without one the owner is told to build it.
 */
export async function ensureGuestImage(
  imagesDirectory: string,
  template: VmTemplate,
): Promise<VerifiedImage> {
  const { name, sha256 } = template.image;
  try {
    if (sha256 !== null) return await verifyImageRef(imagesDirectory, `${name}@${sha256}`);
    if (name === TINY_IMAGE_NAME) return await buildImageByName({ name, imagesDirectory });
    const installed = (await listImages(imagesDirectory))
      .filter((image) => image.name === name && image.problem === null)
      .sort((a, b) => (b.builtAt ?? '').localeCompare(a.builtAt ?? ''));
    const newest = installed[0];
    if (newest === undefined) {
      throw new ServiceError(
        'not-found',
        'IMAGE_NOT_BUILT',
        `template ${template.name} runs the ${name} image, and no build of it is installed in ${imagesDirectory}`,
        `build it first: \`mvctl image build ${name}\` (then create the VM again)`,
      );
    }
    return await verifyImageRef(imagesDirectory, newest.ref);
  } catch (error) {
    throw imageFailure(`getting image ${name} for template ${template.name}`, error);
  }
}

export interface ImageListing {
  readonly images: readonly ListedImage[];
}

/** `mvctl image list`: what is installed (no hashing; `image verify` re-hashes). */
export async function listGuestImages(imagesDirectory: string): Promise<ImageListing> {
  try {
    return { images: await listImages(imagesDirectory) };
  } catch (error) {
    throw imageFailure('listing the images', error);
  }
}

/** `mvctl image verify REF`: every file re-hashed against the image's manifest. */
export async function verifyGuestImage(
  imagesDirectory: string,
  ref: string,
): Promise<{ ref: string; files: number; verified: true }> {
  try {
    const image = await verifyImageRef(imagesDirectory, ref);
    return { ref, files: image.manifest.files.length, verified: true };
  } catch (error) {
    throw imageFailure(`verifying image ${ref}`, error);
  }
}

/**
 * `mvctl image build NAME` as a task: progress from the builder, cancel through the task's signal. Without
 * `rebuild`, an installed build of the same inputs is returned at once.
 */
export function buildGuestImageAsTask(
  tasks: TaskManager,
  request: { name: string; rebuild: boolean; imagesDirectory: string; cacheDirectory: string },
  requestedBy: AuditActor,
): TaskRecord {
  const { task, done } = tasks.start(
    { kind: 'image.build', target: request.name, requestedBy },
    async (context) => {
      try {
        const image = await buildImageByName({
          name: request.name,
          imagesDirectory: request.imagesDirectory,
          cacheDirectory: request.cacheDirectory,
          reuseCached: !request.rebuild,
          signal: context.signal,
          onProgress: (progress) =>
            context.reportProgress(progress.fraction, `${progress.step}: ${progress.detail}`.slice(0, 500)),
        });
        return { ref: image.ref, reused: image.reused, directory: image.directory };
      } catch (error) {
        throw imageFailure(`building image ${request.name}`, error);
      }
    },
  );
  // The task's record holds how the build ended; `done` rejects only if recording that failed, which the task
  // manager has logged.
  done.catch(() => undefined);
  return task;
}
