import type { ImageBoot, JsonObject } from './image-manifest.js';

/**
 * Everything a recipe builds from, pinned: the digest keys the image cache, the record goes into
 * the manifest. Two resolutions with the same digest must produce byte-identical images.
 */
export interface ResolvedImageInputs {
  readonly digest: string;
  readonly record: JsonObject;
}

export interface ImageProductionContext {
  /** A fresh, empty, private directory; the recipe writes the image's files here and nothing else. */
  readonly directory: string;
  /** Reports a human-readable step of the recipe's own work. */
  readonly report: (detail: string) => void;
}

export interface ProducedImage {
  /** Names of the files written into the production directory. */
  readonly files: readonly string[];
  readonly boot: ImageBoot;
}

/**
 * One kind of guest image (tiny, later debian, ...). The image store does the rest the same way
 * for every recipe: temp directory, hashing, manifest, atomic install, cache lookup, verification.
 */
export interface ImageRecipe<Inputs extends ResolvedImageInputs = ResolvedImageInputs> {
  readonly name: string;
  /** Finds and pins the inputs on this host; fails with a precise ImageError when one is missing. */
  resolveInputs(): Promise<Inputs>;
  /** Writes the image's files; must depend only on `inputs`, so builds are reproducible. */
  produce(inputs: Inputs, context: ImageProductionContext): Promise<ProducedImage>;
}
