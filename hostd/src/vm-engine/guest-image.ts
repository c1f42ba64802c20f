import { ImageError, TINY_IMAGE_NAME, buildTinyImage } from '@multiverse/vm-templates';
import type { VerifiedImage, VmTemplate } from '@multiverse/vm-templates';
import { ServiceError } from '../service/service-error.js';

/**
 * The kernel-boot image a template runs, built into `imagesDirectory` on first use and verified (re-hashed)
 * on every later use. Only the tiny image has a builder today; the Debian image comes with its recipe.
 */
export async function ensureGuestImage(
  imagesDirectory: string,
  template: VmTemplate,
): Promise<VerifiedImage> {
  if (template.image.name !== TINY_IMAGE_NAME) {
    throw new ServiceError(
      'conflict',
      'IMAGE_UNAVAILABLE',
      `template ${template.name} runs the ${template.image.name} image, which hostd cannot build yet (only ${TINY_IMAGE_NAME})`,
      `create VMs from a template that uses the ${TINY_IMAGE_NAME} image, such as fallback`,
    );
  }
  let image: VerifiedImage;
  try {
    image = await buildTinyImage({ imagesDirectory });
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    throw new ServiceError(
      'upstream',
      'IMAGE_BUILD_FAILED',
      `building the ${TINY_IMAGE_NAME} image failed (${error.code}): ${error.message}`,
      'fix what the message names (scripts/setup.sh installs the packages the builder reads), then retry',
      { cause: error },
    );
  }
  const pinned = template.image.sha256;
  if (pinned !== null && pinned !== image.manifest.id) {
    throw new ServiceError(
      'conflict',
      'IMAGE_PIN_MISMATCH',
      `template ${template.name} is pinned to ${TINY_IMAGE_NAME}@${pinned}, but this host builds ${TINY_IMAGE_NAME}@${image.manifest.id}`,
      `unpin the template (image: ${TINY_IMAGE_NAME}) or install the packages that image was built from`,
    );
  }
  return image;
}
