export { LifecycleRecorder, LifecycleTimeoutError } from './fixtures/lifecycle-recorder.js';
export { sharedTinyImage, testImagesDirectory } from './fixtures/shared-images.js';
export { tinyDomainXml } from './fixtures/tiny-domain-xml.js';
export type { TinyDomainSpec } from './fixtures/tiny-domain-xml.js';
