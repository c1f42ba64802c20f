import { z } from 'zod';
import { MIB } from '../templates/byte-size.js';
import { LINE_RULE, isSingleLine } from '../templates/free-text.js';
import {
  closedObject,
  freeText,
  integerBetween,
  oneOf,
  parsedString,
  singleLine,
  vmName,
} from '../templates/schema-fields.js';
import { describeIssues, formatPath } from '../templates/template-issues.js';
import { TEMPLATE_LIMITS } from '../templates/template-schema.js';
import type { Volume, VmTemplate } from '../templates/template-schema.js';
import { ONION_ROUTER } from '../templates/vm-names.js';
import { DomainXmlError } from './domain-xml-error.js';
import { onionLinkProblem, onionLinkSchema } from './onion-link.js';
import type { VmOnionLink } from './onion-link.js';
import { CHECKPOINT_LIMITS, checkpointSchema, pinnedImageSchema } from './vm-metadata.js';
import type { VmMetadata } from './vm-metadata.js';

const MAX_PATH_LENGTH = 4096;
const MAX_HOST_CPU = 4095;
/** Layers below an encrypted private top: hostd's chain depth is at most 64. */
const MAX_BACKING_LAYERS = 63;
/** The fallback VM inspects one failed VM, whose volumes are at most these. */
const MAX_INSPECTED_DISKS = 4;

function isAbsolutePath(path: string): boolean {
  if (!path.startsWith('/') || path.length > MAX_PATH_LENGTH || !isSingleLine(path)) return false;
  return path
    .split('/')
    .slice(1)
    .every((component) => component !== '' && component !== '.' && component !== '..');
}

const absolutePath = parsedString(
  `an absolute file path without empty, "." or ".." components (${LINE_RULE}), at most ${MAX_PATH_LENGTH} characters`,
  (text) => (isAbsolutePath(text) ? text : undefined),
);

const cpuList = z
  .array(integerBetween(0, MAX_HOST_CPU), { error: `a list of host CPU numbers from 0 to ${MAX_HOST_CPU}` })
  .min(1, { error: 'a non-empty list of host CPU numbers' })
  .refine((cpus) => new Set(cpus).size === cpus.length, {
    error: 'a list of host CPU numbers without repeats',
  });

export const INTERFACE_PURPOSES = ['upstream', 'inside'] as const;
export type InterfacePurpose = (typeof INTERFACE_PURPOSES)[number];

/**
 * What hostd knows about one VM beyond its template: where its disks are, which networks it is on,
 * which host CPUs it runs on. Validated like any input, though hostd is its only author.
 */
export const vmInstanceFactsSchema = closedObject(
  {
    name: vmName(),
    uuid: parsedString('a UUID in lowercase, such as 0f8fad5b-d9cb-469f-a165-70867728950e', (text) =>
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text) ? text : undefined,
    ),
    /** The managing hostd's host id, recorded in the metadata. */
    hostId: parsedString('a host id: a UUID in lowercase', (text) =>
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text) ? text : undefined,
    ).optional(),
    /** Defaults to the template's description. */
    description: freeText(TEMPLATE_LIMITS.descriptionLength).optional(),
    /** The exact image build, resolved from the template's image (and pin, if any). */
    image: pinnedImageSchema,
    /** For `boot: kernel`: the image's kernel, initrd and kernel arguments. */
    kernel: closedObject(
      { kernelPath: absolutePath, initrdPath: absolutePath, arguments: singleLine(2048) },
      'a mapping of kernel boot facts',
    ).optional(),
    disks: closedObject(
      {
        root: absolutePath.optional(),
        private: absolutePath.optional(),
        volatile: absolutePath.optional(),
        /** Fallback VMs only: the failed VM's disks, attached read-only. */
        inspected: z
          .array(absolutePath, { error: 'a list of paths' })
          .max(MAX_INSPECTED_DISKS, { error: `a list of at most ${MAX_INSPECTED_DISKS} paths` })
          .default([]),
      },
      'a mapping of disk paths',
    ).prefault({}),
    interfaces: z
      .array(
        closedObject(
          {
            purpose: oneOf(INTERFACE_PURPOSES),
            network: parsedString(
              'a libvirt network name: 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
              (text) => (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(text) ? text : undefined),
            ),
            mac: parsedString('a unicast MAC address in lowercase, such as 52:54:00:12:34:56', (text) =>
              /^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/.test(text) && text !== '00:00:00:00:00:00'
                ? text
                : undefined,
            ),
          },
          'a network interface',
        ),
        { error: 'a list of network interfaces' },
      )
      .max(2, { error: 'at most two interfaces (upstream and, for routers, inside)' })
      .default([]),
    /** A VM behind the onion device ("router: onion"), while it runs: its link. Absent: no NIC at all. */
    onionLink: onionLinkSchema.optional(),
    /**
     * The VM's volumes are LUKS-encrypted with the key of this libvirt secret. libvirt cannot open an encrypted
     * backing layer it only probed from a header, so the chains are spelled out: the private top's layers below
     * it, newest first (all encrypted with the same key), and the plain base image under the root overlay.
     */
    diskEncryption: closedObject(
      {
        secretUuid: parsedString('a libvirt secret UUID in lowercase', (text) =>
          /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(text) ? text : undefined,
        ),
        privateBacking: z
          .array(absolutePath, { error: 'a list of paths' })
          .max(MAX_BACKING_LAYERS, { error: `a list of at most ${MAX_BACKING_LAYERS} paths` })
          .default([]),
        rootBase: absolutePath.optional(),
      },
      'a mapping of disk encryption facts',
    ).optional(),
    /** Host CPUs per vCPU (index = vCPU) and for QEMU's emulator threads, from hostd's planner. */
    cpuPinning: closedObject(
      { vcpus: z.array(cpuList, { error: 'a list with one host CPU list per vCPU' }), emulator: cpuList },
      'a mapping of CPU pinning',
    ).optional(),
    /** The planner's memory for this VM; defaults to the template's. */
    memoryBytes: integerBetween(TEMPLATE_LIMITS.memoryBytes.min, TEMPLATE_LIMITS.memoryBytes.max)
      .multipleOf(MIB, { error: 'a whole number of MiB' })
      .optional(),
    /** Relative CPU weight against other VMs (libvirt's `<shares>`). */
    cpuShares: integerBetween(2, 262144).default(1024),
    checkpoints: z
      .array(checkpointSchema, { error: 'a list of checkpoints' })
      .max(CHECKPOINT_LIMITS.count, { error: `a list of at most ${CHECKPOINT_LIMITS.count} checkpoints` })
      .default([]),
  },
  'a mapping of VM instance facts',
);

/** The facts as hostd passes them; optional fields take their defaults. */
export type VmInstanceFacts = z.input<typeof vmInstanceFactsSchema>;

export type DiskPurpose = Volume | 'inspected';

export interface VmDisk {
  readonly purpose: DiskPurpose;
  readonly path: string;
  /** The guest device: root, private and volatile are always vda, vdb and vdc, present or not. */
  readonly device: string;
  readonly readOnly: boolean;
  /** Deleted (root: recreated) when the VM stops. */
  readonly discardedAtStop: boolean;
  /** The libvirt secret of this disk's LUKS key; null: plain qcow2. */
  readonly secretUuid: string | null;
  /**
   * The layers below it, newest first, each with its secret (null: plain), written out as `<backingStore>`;
   * null: libvirt reads the chain from the image headers (plain VMs).
   */
  readonly backingChain: readonly { readonly path: string; readonly secretUuid: string | null }[] | null;
}

export interface VmInterface {
  readonly purpose: InterfacePurpose;
  readonly network: string;
  readonly mac: string;
}

/** Everything the domain XML is generated from, checked against itself and the template. */
export interface VmModel {
  readonly template: VmTemplate;
  readonly name: string;
  readonly uuid: string;
  readonly description: string;
  readonly kernel: {
    readonly kernelPath: string;
    readonly initrdPath: string;
    readonly arguments: string;
  } | null;
  readonly disks: readonly VmDisk[];
  readonly interfaces: readonly VmInterface[];
  /** "router: onion" only, and only in the definition hostd makes to start the VM. */
  readonly onionLink: VmOnionLink | null;
  readonly cpuPinning: {
    readonly vcpus: readonly (readonly number[])[];
    readonly emulator: readonly number[];
  } | null;
  readonly memoryBytes: number;
  readonly cpuShares: number;
  readonly metadata: VmMetadata;
}

const VOLUME_DEVICES: Readonly<Record<Volume, string>> = { root: 'vda', private: 'vdb', volatile: 'vdc' };
const INSPECTED_DEVICES = ['vdd', 'vde', 'vdf', 'vdg'] as const;

/** Validates `facts` and their fit with `template`; throws VM_MODEL_INVALID listing every problem. */
export function buildVmModel(template: VmTemplate, facts: unknown): VmModel {
  const parsed = vmInstanceFactsSchema.safeParse(facts);
  const label = `VM ${typeof facts === 'object' && facts !== null && 'name' in facts ? JSON.stringify(facts.name) : '(unnamed)'}`;
  if (!parsed.success) {
    const problems = describeIssues(parsed.error, facts).map(
      (problem) => `${label}: ${formatPath(problem.path) ?? 'facts'}: ${problem.message}`,
    );
    throw new DomainXmlError('VM_MODEL_INVALID', problems);
  }
  const instance = parsed.data;
  const problems: string[] = [];
  const problem = (field: string, message: string) => problems.push(`${label}: ${field}: ${message}`);

  if (instance.image.name !== template.image.name) {
    problem(
      'image',
      `template ${template.name} runs the ${template.image.name} image, not ${instance.image.name}`,
    );
  } else if (template.image.sha256 !== null && template.image.sha256 !== instance.image.sha256) {
    problem(
      'image',
      `template ${template.name} is pinned to ${template.image.name}@${template.image.sha256}`,
    );
  }
  if (template.boot === 'kernel' && instance.kernel === undefined) {
    problem(
      'kernel',
      `template ${template.name} boots a kernel directly: give its kernel, initrd and arguments`,
    );
  }
  if (template.boot === 'disk' && instance.kernel !== undefined) {
    problem('kernel', `template ${template.name} boots from its root volume: leave kernel out`);
  }

  for (const volume of ['root', 'private', 'volatile'] as const) {
    const declared = template.diskBytes[volume] !== null;
    const given = instance.disks[volume] !== undefined;
    if (declared && !given)
      problem(`disks.${volume}`, `template ${template.name} has a ${volume} volume: give its path`);
    if (!declared && given)
      problem(`disks.${volume}`, `template ${template.name} has no ${volume} volume: leave it out`);
  }
  if (instance.disks.inspected.length > 0 && template.role !== 'fallback') {
    problem('disks.inspected', "only the fallback VM inspects other VMs' disks");
  }
  const paths = [
    instance.disks.root,
    instance.disks.private,
    instance.disks.volatile,
    ...instance.disks.inspected,
  ];
  const definedPaths = paths.filter((path): path is string => path !== undefined);
  if (new Set(definedPaths).size !== definedPaths.length)
    problem('disks', 'each disk needs a path of its own');

  checkInterfaces(template, instance.name, instance.interfaces, problem);
  checkDiskEncryption(instance.disks, instance.diskEncryption, problem);
  checkOnionLink(template, instance.onionLink, problem);
  checkPinning(template, instance.cpuPinning, problem);

  if (problems.length > 0) throw new DomainXmlError('VM_MODEL_INVALID', problems);

  const encryption = instance.diskEncryption;
  const disks: VmDisk[] = [];
  for (const volume of ['root', 'private', 'volatile'] as const) {
    const path = instance.disks[volume];
    if (path === undefined) continue;
    const discardedAtStop = volume !== 'private' || template.ephemeral;
    const secretUuid = encryption?.secretUuid ?? null;
    disks.push({
      purpose: volume,
      path,
      device: VOLUME_DEVICES[volume],
      readOnly: false,
      discardedAtStop,
      secretUuid,
      backingChain: encryption === undefined ? null : encryptedBackingChain(volume, encryption),
    });
  }
  instance.disks.inspected.forEach((path, index) => {
    disks.push({
      purpose: 'inspected',
      path,
      device: INSPECTED_DEVICES[index] ?? '',
      readOnly: true,
      discardedAtStop: false,
      secretUuid: null,
      backingChain: null,
    });
  });

  return {
    template,
    name: instance.name,
    uuid: instance.uuid,
    description: instance.description ?? template.description,
    kernel: instance.kernel ?? null,
    disks,
    // The upstream interface is always the guest's first network device.
    interfaces: [...instance.interfaces].sort(
      (a, b) => INTERFACE_PURPOSES.indexOf(a.purpose) - INTERFACE_PURPOSES.indexOf(b.purpose),
    ),
    onionLink: instance.onionLink ?? null,
    cpuPinning: instance.cpuPinning ?? null,
    memoryBytes: instance.memoryBytes ?? template.memoryBytes,
    cpuShares: instance.cpuShares,
    metadata: {
      role: template.role,
      template: template.name,
      image: instance.image,
      router: template.router,
      pinning: template.pinning,
      ephemeral: template.ephemeral,
      checkpoints: instance.checkpoints,
      ...(instance.hostId === undefined ? {} : { host: instance.hostId }),
    },
  };
}

function checkInterfaces(
  template: VmTemplate,
  name: string,
  interfaces: readonly VmInterface[],
  problem: (field: string, message: string) => void,
): void {
  const count = (purpose: InterfacePurpose) => interfaces.filter((entry) => entry.purpose === purpose).length;
  const isRouter = template.role === 'router';
  const behindOnion = template.router === ONION_ROUTER;
  const wantsUpstream = isRouter || (template.router !== null && !behindOnion);
  if (template.router === name)
    problem('name', `the VM cannot sit behind itself (its template's router is ${name})`);
  if (wantsUpstream && count('upstream') !== 1) {
    const what = template.router === null ? 'the uplink network' : `the inside network of ${template.router}`;
    problem('interfaces', `give exactly one upstream interface, on ${what}`);
  }
  if (!wantsUpstream && count('upstream') !== 0) {
    problem(
      'interfaces',
      behindOnion
        ? `template ${template.name} sits behind the onion device ("router: onion"): its NIC is the onionLink, give no network interface`
        : `template ${template.name} is offline ("router: none"): give no upstream interface`,
    );
  }
  if (isRouter && count('inside') !== 1)
    problem('interfaces', 'a router needs exactly one inside interface, on the network it serves');
  if (!isRouter && count('inside') !== 0) problem('interfaces', 'only routers have an inside interface');
  const macs = interfaces.map((entry) => entry.mac);
  if (new Set(macs).size !== macs.length)
    problem('interfaces', 'each interface needs a MAC address of its own');
}

function checkOnionLink(
  template: VmTemplate,
  link: VmOnionLink | undefined,
  problem: (field: string, message: string) => void,
): void {
  if (link === undefined) return;
  if (template.router !== ONION_ROUTER) {
    problem(
      'onionLink',
      `template ${template.name} is not behind the onion device ("router: onion"): leave it out`,
    );
    return;
  }
  const linkProblem = onionLinkProblem(link);
  if (linkProblem !== undefined) problem('onionLink.gateway', linkProblem);
}

function encryptedBackingChain(
  volume: Volume,
  encryption: { secretUuid: string; privateBacking: string[]; rootBase?: string | undefined },
): VmDisk['backingChain'] {
  if (volume === 'private') {
    return encryption.privateBacking.map((path) => ({ path, secretUuid: encryption.secretUuid }));
  }
  if (volume === 'root' && encryption.rootBase !== undefined) {
    return [{ path: encryption.rootBase, secretUuid: null }];
  }
  return [];
}

function checkDiskEncryption(
  disks: { root?: string | undefined; private?: string | undefined; inspected: string[] },
  encryption: { privateBacking: string[]; rootBase?: string | undefined } | undefined,
  problem: (field: string, message: string) => void,
): void {
  if (encryption === undefined) return;
  if (disks.root !== undefined && encryption.rootBase === undefined) {
    problem('diskEncryption.rootBase', 'an encrypted root overlay needs the base image it overlays');
  }
  if (disks.root === undefined && encryption.rootBase !== undefined) {
    problem('diskEncryption.rootBase', 'the VM has no root volume: leave it out');
  }
  if (disks.private === undefined && encryption.privateBacking.length > 0) {
    problem('diskEncryption.privateBacking', 'the VM has no private volume: leave it empty');
  }
  if (disks.inspected.length > 0) {
    problem('diskEncryption', "the fallback VM's own volumes are never encrypted");
  }
}

function checkPinning(
  template: VmTemplate,
  pinning: { vcpus: number[][]; emulator: number[] } | undefined,
  problem: (field: string, message: string) => void,
): void {
  if (pinning === undefined) {
    if (template.pinning === 'dedicated') {
      problem(
        'cpuPinning',
        `template ${template.name} has dedicated CPUs: give the planner's host CPU for each vCPU`,
      );
    }
    return;
  }
  if (pinning.vcpus.length !== template.vcpus) {
    problem(
      'cpuPinning.vcpus',
      `give one host CPU list per vCPU: ${template.vcpus}, got ${pinning.vcpus.length}`,
    );
    return;
  }
  if (template.pinning !== 'dedicated') return;
  const dedicated = pinning.vcpus.flat();
  if (pinning.vcpus.some((cpus) => cpus.length !== 1) || new Set(dedicated).size !== dedicated.length) {
    problem(
      'cpuPinning.vcpus',
      'a dedicated VM runs each vCPU on one host CPU of its own: give one distinct CPU per vCPU',
    );
  }
  if (pinning.emulator.some((cpu) => dedicated.includes(cpu))) {
    problem(
      'cpuPinning.emulator',
      "the emulator threads must not run on the VM's dedicated CPUs: pin them to the shared pool",
    );
  }
}
