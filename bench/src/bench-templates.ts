import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildVmModel,
  domainElement,
  parseTemplate,
  renderXml,
  shippedTemplatesDirectory,
} from '@multiverse/vm-templates';
import type { VerifiedImage, VmInstanceFacts, VmTemplate } from '@multiverse/vm-templates';

/**
 * The shipped `disposable` template with `router: none`, under a name of the bench's own: the shipped one sits
 * behind sys-tor, whose network is shared with whatever else uses this libvirtd, and another hostd on the same
 * libvirtd pooling `disposable` VMs could take this bench's paused ones.
 */
export const BENCH_DISPOSABLE_TEMPLATE = 'mvbench-disposable';

const DISPOSABLE_TEMPLATE_YAML = `name: ${BENCH_DISPOSABLE_TEMPLATE}
description: The shipped disposable template without a router, for the benchmarks.
role: disposable
image: tiny
boot: kernel
vcpus: 1
memory: 256MiB
pinning: shared
disks:
  private: 1GiB
  volatile: 512MiB
router: none
autostart: false
ephemeral: true
readyTimeout: 120s
`;

/** A tiny kernel-boot VM with one private volume, to be checkpointed. */
export const BENCH_PRIVATE_TEMPLATE = 'mvbench-private';

/** Writes the bench's templates (disposable and private-volume) into `directory`, for MULTIVERSE_TEMPLATES_DIR. */
export async function writeBenchTemplates(directory: string): Promise<void> {
  await writeFile(join(directory, `${BENCH_DISPOSABLE_TEMPLATE}.yaml`), DISPOSABLE_TEMPLATE_YAML);
  await writeFile(join(directory, `${BENCH_PRIVATE_TEMPLATE}.yaml`), PRIVATE_VOLUME_TEMPLATE_YAML);
}

/** The volumes of a VM the bench defines itself: a root overlay on a base image, or one private volume. */
export type BenchVolumes = 'root' | 'private';

/**
 * The memory of the shipped `app` template: the VM a user's work runs in. A running VM's internal snapshot saves
 * the RAM in use, so the VM checkpointed is sized as the one users would checkpoint.
 */
function shippedAppMemoryMib(): number {
  const file = join(shippedTemplatesDirectory(), 'app.yaml');
  const app = parseTemplate({ file, text: readFileSync(file, 'utf8'), format: 'yaml' });
  return app.memoryBytes / (1024 * 1024);
}

/** The bench VMs' memory, in MiB. */
export const BENCH_VM_MEMORY_MIB = shippedAppMemoryMib();

const PRIVATE_VOLUME_TEMPLATE_YAML = `name: ${BENCH_PRIVATE_TEMPLATE}
description: A tiny kernel-boot VM with one volume, with the memory of the shipped app template.
role: app
image: tiny
boot: kernel
vcpus: 1
memory: ${BENCH_VM_MEMORY_MIB}MiB
pinning: shared
disks:
  private: 1GiB
router: none
autostart: false
ephemeral: false
readyTimeout: 120s
`;

/**
 * A validated template for the bench's own VMs. The root variant is the same template with its one volume as
 * root: template rules refuse a root volume on the tiny image (its initramfs never mounts one), but the bench
 * needs a guest that boots in seconds whatever its root disk holds — the root is there to be created or cloned.
 */
function benchTemplate(volumes: BenchVolumes): VmTemplate {
  const template = parseTemplate({
    file: 'bench template',
    text: PRIVATE_VOLUME_TEMPLATE_YAML,
    format: 'yaml',
  });
  if (volumes === 'private') return template;
  return {
    ...template,
    name: 'mvbench-root',
    diskBytes: { root: template.diskBytes.private, private: null, volatile: null },
  };
}

/**
 * The domain XML hostd's generator makes for a tiny kernel-boot VM with the given volume at `diskPath`
 * (TCG). `withMetadata: false` leaves out Multiverse's metadata: for domains the bench defines as a user
 * without hostd would, which no hostd on this libvirtd should take for one of its own.
 */
export function benchDomainXml(options: {
  readonly volumes: BenchVolumes;
  readonly name: string;
  readonly uuid: string;
  readonly image: VerifiedImage;
  readonly diskPath: string;
  readonly withMetadata: boolean;
}): string {
  const template = benchTemplate(options.volumes);
  const facts: VmInstanceFacts = {
    name: options.name,
    uuid: options.uuid,
    image: `${options.image.manifest.name}@${options.image.manifest.id}`,
    kernel: {
      kernelPath: options.image.kernelPath,
      initrdPath: options.image.initramfsPath,
      arguments: options.image.manifest.boot.kernelArguments,
    },
    disks: { [options.volumes]: options.diskPath },
  };
  const domain = domainElement(buildVmModel(template, facts), { domainType: 'qemu' });
  return renderXml(
    options.withMetadata
      ? domain
      : {
          ...domain,
          children: domain.children.filter((child) => typeof child === 'string' || child.name !== 'metadata'),
        },
  );
}
