import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { queryInstalledPackage } from '../debian-packages.js';
import { ImageError } from '../image-error.js';
import { digestJson } from '../image-manifest.js';
import type { JsonObject } from '../image-manifest.js';
import type { ResolvedImageInputs } from '../image-recipe.js';

export const DEFAULT_DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const DEFAULT_DEBIAN_SECURITY_MIRROR = 'http://deb.debian.org/debian-security';
export const DEFAULT_DEBIAN_SUITE = 'bookworm';

const mirrorUrl = z
  .string()
  .max(512)
  .refine((text) => {
    if (/\s/.test(text)) return false;
    try {
      const url = new URL(text);
      return (
        (url.protocol === 'http:' || url.protocol === 'https:') &&
        url.username === '' &&
        url.password === '' &&
        url.search === '' &&
        url.hash === ''
      );
    } catch {
      return false;
    }
  }, 'an http:// or https:// URL without credentials, query or fragment, such as http://deb.debian.org/debian')
  .transform((text) => text.replace(/\/+$/, ''));

/** What a caller may choose about the Debian image; validated before anything runs. */
export const debianImageOptionsSchema = z.strictObject({
  mirror: mirrorUrl.default(DEFAULT_DEBIAN_MIRROR),
  securityMirror: mirrorUrl.default(DEFAULT_DEBIAN_SECURITY_MIRROR),
  /** A Debian codename debootstrap knows; the image is tested with bookworm. */
  suite: z
    .string()
    .regex(/^[a-z]{2,20}$/, 'a Debian codename such as bookworm')
    .default(DEFAULT_DEBIAN_SUITE),
  /** Kept between builds: the .debs debootstrap and apt downloaded. Absolute; created if missing. */
  cacheDirectory: z
    .string()
    .max(4096)
    .refine((path) => isAbsolute(path) && !/[\n\0]/.test(path), 'an absolute path')
    .optional(),
});

export type DebianImageOptions = z.input<typeof debianImageOptionsSchema>;
export type DebianImageSettings = z.output<typeof debianImageOptionsSchema>;

/** The Debian packages whose versions the image depends on besides the mirror's: the build tools. */
const BUILD_TOOL_PACKAGES = [
  'debootstrap',
  'debian-archive-keyring',
  'e2fsprogs',
  'qemu-utils',
  'dpkg',
] as const;

export interface DebianImageInputs extends ResolvedImageInputs {
  readonly settings: DebianImageSettings;
}

export function parseDebianImageOptions(options: DebianImageOptions): DebianImageSettings {
  const parsed = debianImageOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`,
    );
    throw new ImageError('INVALID_OPTION', `invalid Debian image options: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * Pins what can be pinned before the build: the recipe (suite, mirrors, package lists, guest
 * files, file system layout) and the host's build tools. The packages themselves are whatever the
 * mirror serves when the build runs; the manifest records their versions afterwards.
 */
export async function resolveDebianInputs(
  settings: DebianImageSettings,
  recipeRecord: JsonObject,
): Promise<DebianImageInputs> {
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0) {
    throw new ImageError(
      'BUILD_NEEDS_ROOT',
      `building the Debian image runs debootstrap and chroot, which need root (running as uid ${uid}); build it as root or through hostd`,
    );
  }
  const tools: JsonObject = {};
  for (const name of BUILD_TOOL_PACKAGES) tools[name] = (await queryInstalledPackage(name)).version;
  const record: JsonObject = {
    suite: settings.suite,
    mirror: settings.mirror,
    securityMirror: settings.securityMirror,
    ...recipeRecord,
    tools,
  };
  return { digest: digestJson(record), record, settings };
}
