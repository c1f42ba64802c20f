export { ImageError } from './images/image-error.js';
export type { ImageErrorCode } from './images/image-error.js';
export { MANIFEST_FILE_NAME, MANIFEST_FORMAT, computeImageId } from './images/image-manifest.js';
export type {
  ImageBoot,
  ImageFileRecord,
  ImageManifest,
  ImageRootDisk,
  JsonObject,
  JsonValue,
} from './images/image-manifest.js';
export type {
  ImageProductionContext,
  ImageRecipe,
  ProducedImage,
  ResolvedImageInputs,
} from './images/image-recipe.js';
export {
  IMAGE_REF_PATTERN,
  buildImage,
  findCachedImage,
  readManifest,
  verifyImage,
} from './images/image-store.js';
export type {
  BuildImageOptions,
  ImageBuildProgress,
  ImageBuildStep,
  InstalledImage,
  VerifiedImage,
} from './images/image-store.js';
export { BUILDABLE_IMAGES, buildImageByName, listImages, verifyImageRef } from './images/image-catalog.js';
export { VerifiedImageCache } from './images/verified-image-cache.js';
export type { BuildImageRequest, BuildableImage, BuiltImage, ListedImage } from './images/image-catalog.js';
export {
  ConsoleLineSplitter,
  GUEST_DEVICE_NAME,
  GUEST_HOSTNAME,
  READY_LINE_PREFIX,
  SERIAL_PROTOCOL_VERSION,
  formatReadyLine,
  parseReadyLine,
} from './images/serial-protocol.js';
export type {
  ReadyAnnouncement,
  ReadyAnnouncementV1,
  ReadyAnnouncementV2,
} from './images/serial-protocol.js';
export {
  TINY_IMAGE_NAME,
  TINY_INITRAMFS_FILE,
  TINY_KERNEL_ARGUMENTS,
  TINY_KERNEL_FILE,
  TINY_KERNEL_MODULES,
  buildTinyImage,
  tinyImageRecipe,
} from './images/tiny/tiny-recipe.js';
export type { BuildTinyImageOptions } from './images/tiny/tiny-recipe.js';
export { IPV4_KERNEL_PARAMETER } from './images/guest-shell-snippets.js';
export {
  HOSTNAME_KERNEL_PARAMETER,
  TINY_DEFAULT_HOSTNAME,
  tinyShellPrompt,
} from './images/tiny/tiny-guest-files.js';
export { DEFAULT_BUSYBOX_PACKAGE, DEFAULT_KERNEL_PACKAGE } from './images/tiny/tiny-inputs.js';
export type { TinyImageInputs, TinyImageSources } from './images/tiny/tiny-inputs.js';
export {
  DEBIAN_BASE_PACKAGES,
  DEBIAN_IMAGE_NAME,
  DEBIAN_INITRD_FILE,
  DEBIAN_KERNEL_ARGUMENTS,
  DEBIAN_KERNEL_FILE,
  DEBIAN_KERNEL_PACKAGES,
  DEBIAN_ROOT_DISK_FILE,
  buildDebianImage,
  debianImageRecipe,
} from './images/debian/debian-recipe.js';
export type { BuildDebianImageOptions } from './images/debian/debian-recipe.js';
export { DEBIAN_DEFAULT_HOSTNAME } from './images/debian/debian-guest-files.js';
export {
  DEFAULT_DEBIAN_MIRROR,
  DEFAULT_DEBIAN_SECURITY_MIRROR,
  DEFAULT_DEBIAN_SUITE,
} from './images/debian/debian-inputs.js';
export type { DebianImageInputs, DebianImageOptions } from './images/debian/debian-inputs.js';
export { formatByteSize, parseByteSize } from './templates/byte-size.js';
export { parseDurationSeconds } from './templates/duration.js';
export { TemplateError, formatTemplateIssue } from './templates/template-error.js';
export type { TemplateErrorCode, TemplateIssue } from './templates/template-error.js';
export {
  MAX_TEMPLATE_BYTES,
  loadTemplateDirectory,
  loadTemplateFile,
  parseTemplate,
  shippedTemplatesDirectory,
  templateFormatOf,
} from './templates/template-loader.js';
export type { TemplateFormat, TemplateSource } from './templates/template-loader.js';
export {
  BOOT_MODES,
  PINNING_CLASSES,
  ROUTER_TUNNELS,
  TEMPLATE_LIMITS,
  VM_ROLES,
  VOLUMES,
} from './templates/template-schema.js';
export type {
  BootMode,
  PinningClass,
  RouterTunnel,
  VmRole,
  VmTemplate,
  Volume,
  VolumeSizes,
} from './templates/template-schema.js';
export {
  NO_ROUTER,
  ONION_ROUTER,
  RESERVED_VM_NAMES,
  VM_NAME_PATTERN,
  VM_NAME_RULE,
  formatImageSelector,
  isVmName,
  parseImageSelector,
} from './templates/vm-names.js';
export type { ImageSelector } from './templates/vm-names.js';
export { formatCpuSet } from './domain-xml/cpu-set.js';
export { domainElement, generateDomainXml } from './domain-xml/domain-xml.js';
export type { DomainType, DomainXmlOptions } from './domain-xml/domain-xml.js';
export { DomainXmlError } from './domain-xml/domain-xml-error.js';
export type { DomainXmlErrorCode } from './domain-xml/domain-xml-error.js';
export {
  CHECKPOINT_LIMITS,
  VM_METADATA_ELEMENT,
  VM_METADATA_NAMESPACE,
  VM_METADATA_PREFIX,
  renderVmMetadataForLibvirt,
  vmMetadataElement,
} from './domain-xml/vm-metadata.js';
export type { VmCheckpoint, VmMetadata } from './domain-xml/vm-metadata.js';
export { readVmMetadata, readVmMetadataElement } from './domain-xml/vm-metadata-reader.js';
export { INTERFACE_PURPOSES, buildVmModel } from './domain-xml/vm-model.js';
export type { VmOnionLink } from './domain-xml/onion-link.js';
export type {
  DiskPurpose,
  InterfacePurpose,
  VmDisk,
  VmInstanceFacts,
  VmInterface,
  VmModel,
} from './domain-xml/vm-model.js';
export { XmlError } from './domain-xml/xml-error.js';
export type { XmlErrorCode } from './domain-xml/xml-error.js';
export { attributeOf, elementsOf, parseXml, textOf } from './domain-xml/xml-reader.js';
export type { ParsedAttribute, ParsedElement, XmlReaderLimits } from './domain-xml/xml-reader.js';
export { element, escapeAttribute, escapeText, renderXml } from './domain-xml/xml-writer.js';
export type { XmlAttributes, XmlElement, XmlNode } from './domain-xml/xml-writer.js';
