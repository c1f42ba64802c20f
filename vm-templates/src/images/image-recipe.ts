import type { ImageBoot, JsonObject } from './image-manifest.js';

/**
 * Everything a recipe builds from, pinned as far as the host can pin it: the digest keys the image
 * cache, the record goes into the manifest. A reproducible recipe (tiny) produces byte-identical
 * images from equal digests; one that takes what a package mirror serves (debian) produces an
 * equivalent image, and the store reuses the first one built from that digest until asked to
 * rebuild.
 */
export interface ResolvedImageInputs {
  readonly digest: string;
  readonly record: JsonObject;
}

export interface ImageProductionContext {
  /** A fresh, empty, private directory; the recipe writes the image's files here and nothing else. */
  readonly directory: string;
  /**
   * A fresh, empty, private directory on the same file system for intermediate files (a root
   * tree, a raw disk); deleted after the build whatever happens, after unmounting anything
   * left mounted in it.
   */
  readonly scratchDirectory: string;
  /** Reports a human-readable step of the recipe's own work and, if known, how far it is (0-1). */
  readonly report: (detail: string, fraction?: number) => void;
  /** Fires when the caller cancels the build; long steps stop and throw BUILD_CANCELLED. */
  readonly signal?: AbortSignal;
}

export interface ProducedImage {
  /** Names of the files written into the production directory. */
  readonly files: readonly string[];
  readonly boot: ImageBoot;
  /** Inputs only known once the build ran (what debootstrap chose); merged into the manifest's inputs. */
  readonly inputsRecord?: JsonObject;
}

/**
 * One kind of guest image (tiny, debian, ...). The image store does the rest the same way
 * for every recipe: temp directory, hashing, manifest, atomic install, cache lookup, verification.
 */
export interface ImageRecipe<Inputs extends ResolvedImageInputs = ResolvedImageInputs> {
  readonly name: string;
  /** Finds and pins the inputs on this host; fails with a precise ImageError when one is missing. */
  resolveInputs(): Promise<Inputs>;
  /** Writes the image's files from `inputs` (and, for debian, the mirror's current packages). */
  produce(inputs: Inputs, context: ImageProductionContext): Promise<ProducedImage>;
}
