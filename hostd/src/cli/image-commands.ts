import type { Command, RemoteCommand } from './commands.js';
import { formatBytesApproximately, formatTime } from './human-units.js';
import { formatTable } from './table.js';
import { UsageError } from './usage-error.js';

function oneArgument(positionals: readonly string[], what: string, command: string): string {
  const [value, ...extra] = positionals;
  if (value === undefined) throw new UsageError(`missing the ${what}`, command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  return value;
}

/** `mvctl image build|list|verify`. */
export const IMAGE_COMMANDS: readonly Command[] = [
  {
    kind: 'remote',
    group: 'image',
    name: 'build',
    verb: 'image.build',
    summary: 'build a guest image (tiny, debian); reuses an installed build of the same inputs',
    arguments: [{ name: 'NAME', description: 'tiny or debian' }],
    options: [
      {
        name: 'rebuild',
        type: 'boolean',
        description: 'build again even when an installed build has the same inputs (new Debian updates)',
      },
    ],
    input: (positionals, values) => ({
      name: oneArgument(positionals, 'image NAME', 'image build'),
      ...(values['rebuild'] === true ? { rebuild: true } : {}),
    }),
    render: ({ task }) => `building image ${task.target} as task ${task.id}\n`,
    followTask: ({ task }) => task.id,
  } satisfies RemoteCommand<'image.build'>,
  {
    kind: 'remote',
    group: 'image',
    name: 'list',
    verb: 'image.list',
    summary: 'the installed guest images: reference, build time, size',
    arguments: [],
    options: [],
    input(positionals) {
      if (positionals.length > 0)
        throw new UsageError(`unexpected argument "${positionals[0]}"`, 'image list');
      return {};
    },
    render({ images }) {
      if (images.length === 0) return 'no images (build one: mvctl image build tiny)\n';
      return formatTable(
        ['IMAGE', 'BUILT', 'SIZE', 'PROBLEM'],
        images.map((image) => [
          image.ref,
          image.builtAt === null ? '-' : formatTime(image.builtAt),
          formatBytesApproximately(image.sizeBytes),
          image.problem ?? '',
        ]),
      );
    },
  } satisfies RemoteCommand<'image.list'>,
  {
    kind: 'remote',
    group: 'image',
    name: 'verify',
    verb: 'image.verify',
    summary: 'check every file of an image against the sha256 its manifest records',
    arguments: [{ name: 'REF', description: 'NAME@SHA256, as `image list` shows it' }],
    options: [],
    input: (positionals) => ({ ref: oneArgument(positionals, 'image REF', 'image verify') }),
    render: ({ ref, files }) => `image ${ref}: all ${files} files match its manifest\n`,
  } satisfies RemoteCommand<'image.verify'>,
];
