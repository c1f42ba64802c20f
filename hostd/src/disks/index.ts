export { DiskStore } from './disk-store.js';
export type {
  Checkpoint,
  CheckpointOptions,
  CreateVmDisksRequest,
  DiskKeys,
  DiskStoreOptions,
  LayerChains,
  RecoveryReport,
  StartDisks,
} from './disk-store.js';
export { ImageStore } from './image-store.js';
export type { ImportImageRequest, StoredImage } from './image-store.js';
export { DiskError } from './errors.js';
export type { DiskErrorCode } from './errors.js';
export type { OverlayCreator } from './chain-operations.js';
export { LiveMergeNotStartedError } from './live-merge.js';
export type { LiveMerge, LiveMerger } from './live-merge.js';
export type { CheckpointRecord, DiskEncryption, DiskManifest, PrivateChain } from './manifest.js';
export { formatImageRef, parseImageRef } from './names.js';
export type { ImageRef } from './names.js';
export { QemuImg } from './qemu-img.js';
export type { ImageFormat } from './qemu-img.js';
