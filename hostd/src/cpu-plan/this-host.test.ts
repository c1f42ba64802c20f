import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import {
  attributeOf,
  buildVmModel,
  elementsOf,
  generateDomainXml,
  loadTemplateDirectory,
  parseTemplate,
  parseXml,
  shippedTemplatesDirectory,
  textOf,
} from '@multiverse/vm-templates';
import type { ParsedElement, VmTemplate } from '@multiverse/vm-templates';
import { readHostTopology } from './capabilities-topology.js';
import type { CpuPlan, PlannedVm } from './cpu-plan.js';
import { parseCpuSet } from './cpu-set-parser.js';
import type { HostTopology } from './host-topology.js';
import { cpuPlanVmOf } from './plan-request.js';
import { planCpus } from './planner.js';
import { renderCpuPlan } from './render-plan.js';

const run = promisify(execFile);
const TINY_SHA256 = '0db3058276aaa118e4dbad53cf9bed93838ae9d6d752be53fe3c799fa42e00af';

/** A dedicated 1-vCPU VM, as an owner would write it for a VM that must not share a CPU. */
const DEDICATED_TEMPLATE = `name: vault-worker
role: utility
image: tiny
boot: kernel
vcpus: 1
memory: 256MiB
pinning: dedicated
disks:
  volatile: 64MiB
router: none
`;

/** Linux's own account of the CPUs (`/sys/devices/system/cpu`), to check what libvirt reported. */
async function sysfsTopology(): Promise<{ online: number[]; siblings: Map<number, number[]> }> {
  const base = '/sys/devices/system/cpu';
  const online = parseCpuSet(await readFile(`${base}/online`, 'utf8'));
  const siblings = new Map<number, number[]>();
  for (const cpu of online) {
    const list = parseCpuSet(await readFile(`${base}/cpu${cpu}/topology/thread_siblings_list`, 'utf8'));
    siblings.set(
      cpu,
      list.filter((sibling) => online.includes(sibling)),
    );
  }
  return { online, siblings };
}

function instanceFacts(template: VmTemplate, vm: PlannedVm, index: number) {
  return {
    name: vm.name,
    uuid: `6f1c4a39-2f7e-4c1b-9a53-0c3d0b1f7e2${index}`,
    image: `${template.image.name}@${TINY_SHA256}`,
    ...(template.boot === 'kernel'
      ? {
          kernel: {
            kernelPath: `/var/lib/multiverse/images/tiny@${TINY_SHA256}/vmlinuz`,
            initrdPath: `/var/lib/multiverse/images/tiny@${TINY_SHA256}/initramfs.cpio.gz`,
            arguments: 'console=ttyS0',
          },
        }
      : {}),
    disks: Object.fromEntries(
      (['root', 'private', 'volatile'] as const)
        .filter((volume) => template.diskBytes[volume] !== null)
        .map((volume) => [volume, `/var/lib/multiverse/vms/${vm.name}/${volume}.qcow2`]),
    ),
    cpuPinning: vm.cpuPinning,
    cpuShares: vm.cpuShares,
    memoryBytes: vm.memoryBytes,
  };
}

/** `<cputune>` as libvirt's own parser and formatter give it back: shares, vcpupin per vCPU, emulatorpin. */
function cputuneOf(domainXml: string) {
  const domain = parseXml(domainXml);
  const cputune = elementsOf(domain).find((element) => element.localName === 'cputune');
  assert.ok(cputune, 'the domain has a <cputune>');
  const children = elementsOf(cputune);
  const named = (name: string): ParsedElement[] => children.filter((element) => element.localName === name);
  const cpuset = (element: ParsedElement | undefined) =>
    parseCpuSet(attributeOf(element ?? cputune, 'cpuset') ?? '');
  return {
    shares: Number(textOf(named('shares')[0] ?? cputune)),
    vcpus: named('vcpupin')
      .sort((a, b) => Number(attributeOf(a, 'vcpu')) - Number(attributeOf(b, 'vcpu')))
      .map((element) => cpuset(element)),
    emulator: cpuset(named('emulatorpin')[0]),
  };
}

describe('the CPU plan of this machine, read through libvirt (qemu:///system)', () => {
  let topology: HostTopology;
  let plan: CpuPlan | undefined;
  let templates: Map<string, VmTemplate>;

  before(async () => {
    const client = await LibvirtClient.connect('qemu:///system');
    try {
      topology = await readHostTopology(client);
    } finally {
      await client.close();
    }
    const shipped = await loadTemplateDirectory(shippedTemplatesDirectory());
    const shippedTemplate = (name: string) => {
      const found = shipped.find((template) => template.name === name);
      assert.ok(found, `vm-templates ships the ${name} template`);
      return found;
    };
    templates = new Map([
      [
        'vault-worker',
        parseTemplate({ file: 'vault-worker.yaml', text: DEDICATED_TEMPLATE, format: 'yaml' }),
      ],
      ['controller', shippedTemplate('controller')],
      ['rescue', shippedTemplate('fallback')],
    ]);
  });

  it('reads the topology libvirt reports, which agrees with sysfs', async () => {
    const sysfs = await sysfsTopology();
    assert.deepEqual(
      topology.cpus.map((cpu) => cpu.id),
      sysfs.online,
    );
    for (const cpu of topology.cpus)
      assert.deepEqual(cpu.siblings, sysfs.siblings.get(cpu.id), `CPU ${cpu.id}`);
    assert.ok(topology.memoryBytes > 0);
  });

  it('plans a dedicated 1-vCPU VM beside shared VMs', (t) => {
    assert.ok(
      topology.cpus.length >= 2,
      'a dedicated VM needs a CPU besides the host: this test needs 2 CPUs',
    );
    plan = planCpus(topology, {
      vms: [...templates].map(([name, template]) => cpuPlanVmOf(name, template)),
    });
    t.diagnostic(`\n${renderCpuPlan(plan).text}`);

    const reserved = topology.cpus[0]?.siblings ?? [];
    assert.deepEqual(plan.host.reservedCpus, reserved);
    const worker = plan.vms.find((vm) => vm.name === 'vault-worker');
    assert.ok(worker);
    assert.equal(worker.placement, 'placed');
    const [[workerCpu] = []] = worker.cpuPinning.vcpus;
    assert.ok(workerCpu !== undefined && !reserved.includes(workerCpu));
    for (const vm of plan.vms.filter((entry) => entry.pinning === 'shared')) {
      for (const cpus of [...vm.cpuPinning.vcpus, vm.cpuPinning.emulator])
        assert.ok(
          !cpus.some((cpu) => worker.dedicatedCpus.includes(cpu)),
          `${vm.name} stays off ${workerCpu}`,
        );
    }
  });

  it("feeds the domain XML generator a <cputune> libvirt's schema and parser accept as planned", async () => {
    assert.ok(plan !== undefined, 'the plan of the test before');
    const directory = await mkdtemp(join(tmpdir(), 'mv-cpu-plan-'));
    try {
      for (const [index, vm] of plan.vms.entries()) {
        const template = templates.get(vm.name);
        assert.ok(template);
        const xml = generateDomainXml(buildVmModel(template, instanceFacts(template, vm, index)), {
          domainType: 'qemu',
        });
        const file = join(directory, `${vm.name}.xml`);
        await writeFile(file, xml);
        await run('virt-xml-validate', [file, 'domain']);
        // The test driver runs libvirt's real domain parser and formatter, in-process, touching nothing.
        const { stdout } = await run('virsh', [
          '-q',
          '-c',
          'test:///default',
          `define ${file} ; dumpxml ${vm.name}`,
        ]);
        const defined = stdout.slice(stdout.indexOf('<domain'));
        assert.deepEqual(cputuneOf(defined), {
          shares: vm.cpuShares,
          vcpus: vm.cpuPinning.vcpus,
          emulator: vm.cpuPinning.emulator,
        });
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
