export { ImageError } from './images/image-error.js';
export type { ImageErrorCode } from './images/image-error.js';
export { MANIFEST_FILE_NAME, MANIFEST_FORMAT, computeImageId } from './images/image-manifest.js';
export type {
  ImageBoot,
  ImageFileRecord,
  ImageManifest,
  JsonObject,
  JsonValue,
} from './images/image-manifest.js';
export type {
  ImageProductionContext,
  ImageRecipe,
  ProducedImage,
  ResolvedImageInputs,
} from './images/image-recipe.js';
export { buildImage, findCachedImage, verifyImage } from './images/image-store.js';
export type {
  BuildImageOptions,
  ImageBuildProgress,
  ImageBuildStep,
  InstalledImage,
  VerifiedImage,
} from './images/image-store.js';
export {
  ConsoleLineSplitter,
  GUEST_HOSTNAME,
  READY_LINE_PREFIX,
  SERIAL_PROTOCOL_VERSION,
  formatReadyLine,
  parseReadyLine,
} from './images/serial-protocol.js';
export type { ReadyAnnouncement } from './images/serial-protocol.js';
export {
  TINY_IMAGE_NAME,
  TINY_INITRAMFS_FILE,
  TINY_KERNEL_ARGUMENTS,
  TINY_KERNEL_FILE,
  buildTinyImage,
  tinyImageRecipe,
} from './images/tiny/tiny-recipe.js';
export type { BuildTinyImageOptions } from './images/tiny/tiny-recipe.js';
export {
  HOSTNAME_KERNEL_PARAMETER,
  TINY_DEFAULT_HOSTNAME,
  tinyShellPrompt,
} from './images/tiny/tiny-guest-files.js';
export { DEFAULT_BUSYBOX_PACKAGE, DEFAULT_KERNEL_PACKAGE } from './images/tiny/tiny-inputs.js';
export type { TinyImageInputs, TinyImageSources } from './images/tiny/tiny-inputs.js';
