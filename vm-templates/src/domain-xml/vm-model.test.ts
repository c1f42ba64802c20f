import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadTemplateDirectory, shippedTemplatesDirectory } from '../templates/template-loader.js';
import type { VmTemplate } from '../templates/template-schema.js';
import { DomainXmlError } from './domain-xml-error.js';
import { buildVmModel } from './vm-model.js';
import type { VmInstanceFacts } from './vm-model.js';
import { SAMPLE_SHA256, sampleFacts } from './test-support/sample-facts.js';

let templates: Map<string, VmTemplate>;

before(async () => {
  templates = new Map(
    (await loadTemplateDirectory(shippedTemplatesDirectory())).map((entry) => [entry.name, entry]),
  );
});

function shipped(name: string): VmTemplate {
  const found = templates.get(name);
  assert.ok(found, `no shipped template ${name}`);
  return found;
}

function problemsOf(template: VmTemplate, facts: unknown): readonly string[] {
  try {
    buildVmModel(template, facts);
  } catch (error) {
    assert.ok(error instanceof DomainXmlError, String(error));
    assert.equal(error.code, 'VM_MODEL_INVALID');
    return error.problems;
  }
  assert.fail('expected the facts to be rejected');
}

describe('buildVmModel', () => {
  it('derives volumes, their lifetimes and the metadata from template and facts', () => {
    const model = buildVmModel(
      shipped('disposable'),
      sampleFacts(shipped('disposable'), { memoryBytes: 128 * 2 ** 20 }),
    );
    assert.deepEqual(
      model.disks.map((disk) => [disk.purpose, disk.device, disk.discardedAtStop]),
      [
        ['private', 'vdb', true],
        ['volatile', 'vdc', true],
      ],
    );
    assert.equal(model.memoryBytes, 128 * 2 ** 20);
    assert.equal(model.description, shipped('disposable').description);
    assert.deepEqual(model.metadata, {
      role: 'disposable',
      template: 'disposable',
      image: { name: 'tiny', sha256: SAMPLE_SHA256 },
      router: 'sys-tor',
      pinning: 'shared',
      ephemeral: true,
      checkpoints: [],
    });
    const app = buildVmModel(shipped('app'), sampleFacts(shipped('app')));
    assert.deepEqual(
      app.disks.map((disk) => [disk.purpose, disk.discardedAtStop]),
      [
        ['root', true],
        ['private', false],
        ['volatile', true],
      ],
    );
  });

  const cases: {
    name: string;
    template: string;
    variant?: Partial<VmTemplate>;
    facts: (base: VmInstanceFacts) => unknown;
    problems: string[];
  }[] = [
    {
      name: "an image other than the template's",
      template: 'app',
      facts: (base) => ({ ...base, image: `tiny@${SAMPLE_SHA256}` }),
      problems: ['VM "app-1": image: template app runs the debian image, not tiny'],
    },
    {
      name: 'an unpinned image',
      template: 'app',
      facts: (base) => ({ ...base, image: 'debian' }),
      problems: [
        'VM "app-1": image: must be an image pinned as NAME@SHA256 (64 lowercase hex digits), got "debian"',
      ],
    },
    {
      name: 'a missing and an extra volume, and a shared path',
      template: 'router-tor',
      facts: (base) => ({ ...base, disks: { root: '/vm/a.qcow2', private: '/vm/a.qcow2' } }),
      problems: [
        'VM "sys-tor": disks.private: template router-tor has no private volume: leave it out',
        'VM "sys-tor": disks.volatile: template router-tor has a volatile volume: give its path',
        'VM "sys-tor": disks: each disk needs a path of its own',
      ],
    },
    {
      name: 'relative, dotted and multi-line paths',
      template: 'utility',
      facts: (base) => ({
        ...base,
        disks: { root: 'vm/root.qcow2', private: '/vm/../etc/private', volatile: '/vm/a\nb' },
      }),
      problems: [
        'VM "utility-1": disks.root: must be an absolute file path without empty, "." or ".." components (a single line without control characters or bidirectional overrides), at most 4096 characters, got "vm/root.qcow2"',
        'VM "utility-1": disks.private: must be an absolute file path without empty, "." or ".." components (a single line without control characters or bidirectional overrides), at most 4096 characters, got "/vm/../etc/private"',
        'VM "utility-1": disks.volatile: must be an absolute file path without empty, "." or ".." components (a single line without control characters or bidirectional overrides), at most 4096 characters, got "/vm/a\\nb"',
      ],
    },
    {
      name: 'a kernel for a disk-booted VM, and disks to inspect outside the fallback',
      template: 'app',
      // The shipped templates all boot a kernel; a disk-booted one is the same app template otherwise.
      variant: { boot: 'disk' },
      facts: (base) => ({
        ...base,
        kernel: { kernelPath: '/k', initrdPath: '/i', arguments: '' },
        disks: { ...(base.disks as object), inspected: ['/vm/other.qcow2'] },
      }),
      problems: [
        'VM "app-1": kernel: template app boots from its root volume: leave kernel out',
        'VM "app-1": disks.inspected: only the fallback VM inspects other VMs\' disks',
      ],
    },
    {
      name: 'no kernel for a kernel-booted VM, and a carriage return in the description',
      template: 'fallback',
      facts: (base) => ({ ...base, kernel: undefined, description: 'line\roverwritten' }),
      problems: [
        'VM "fallback-1": description: must be text without control characters other than tab and newline, and without bidirectional overrides, at most 4096 characters (found U+000D at index 4), got "line\\roverwritten"',
      ],
    },
    {
      name: 'no kernel for a kernel-booted VM',
      template: 'fallback',
      facts: (base) => ({ ...base, kernel: undefined }),
      problems: [
        'VM "fallback-1": kernel: template fallback boots a kernel directly: give its kernel, initrd and arguments',
      ],
    },
    {
      name: 'a router without its inside interface, behind itself',
      template: 'router-tor',
      facts: (base) => ({
        ...base,
        name: 'sys-up',
        interfaces: [{ purpose: 'upstream', network: 'default', mac: '52:54:00:00:00:01' }],
      }),
      problems: [
        'VM "sys-up": interfaces: a router needs exactly one inside interface, on the network it serves',
      ],
    },
    {
      name: 'an app VM named after its own router',
      template: 'app',
      facts: (base) => ({ ...base, name: 'sys-tor' }),
      problems: ['VM "sys-tor": name: the VM cannot sit behind itself (its template\'s router is sys-tor)'],
    },
    {
      name: 'an offline VM with a network, an inside interface on an app VM, a shared MAC',
      template: 'utility',
      facts: (base) => ({
        ...base,
        interfaces: [
          { purpose: 'upstream', network: 'default', mac: '52:54:00:00:00:01' },
          { purpose: 'inside', network: 'mv-x', mac: '52:54:00:00:00:01' },
        ],
      }),
      problems: [
        'VM "utility-1": interfaces: template utility is offline ("router: none"): give no upstream interface',
        'VM "utility-1": interfaces: only routers have an inside interface',
        'VM "utility-1": interfaces: each interface needs a MAC address of its own',
      ],
    },
    {
      name: 'malformed MAC, UUID and network name',
      template: 'app',
      facts: (base) => ({
        ...base,
        uuid: 'NOT-A-UUID',
        interfaces: [{ purpose: 'upstream', network: 'net/../x', mac: '01:00:5e:00:00:01' }],
      }),
      problems: [
        'VM "app-1": uuid: must be a UUID in lowercase, such as 0f8fad5b-d9cb-469f-a165-70867728950e, got "NOT-A-UUID"',
        'VM "app-1": interfaces[0].network: must be a libvirt network name: 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, got "net/../x"',
        'VM "app-1": interfaces[0].mac: must be a unicast MAC address in lowercase, such as 52:54:00:12:34:56, got "01:00:5e:00:00:01"',
      ],
    },
    {
      name: 'unknown facts',
      template: 'app',
      facts: (base) => ({ ...base, hostname: 'x' }),
      problems: [
        'VM "app-1": facts: unknown key "hostname"; known keys: name, uuid, hostId, description, image, kernel, disks, interfaces, onionLink, diskEncryption, cpuPinning, memoryBytes, cpuShares, checkpoints',
      ],
    },
  ];
  for (const { name, template, variant, facts, problems } of cases) {
    it(`refuses ${name}`, () => {
      const tested = { ...shipped(template), ...variant };
      const base = sampleFacts(tested);
      assert.deepEqual(problemsOf(tested, facts(base)), problems);
    });
  }

  describe('CPU pinning', () => {
    const dedicated = () => ({ ...shipped('app'), pinning: 'dedicated' as const });

    it('is required for dedicated VMs', () => {
      assert.deepEqual(problemsOf(dedicated(), sampleFacts(dedicated())), [
        'VM "app-1": cpuPinning: template app has dedicated CPUs: give the planner\'s host CPU for each vCPU',
      ]);
    });

    it('gives each dedicated vCPU one host CPU of its own, away from the emulator', () => {
      const facts = sampleFacts(dedicated(), { cpuPinning: { vcpus: [[2, 3], [3]], emulator: [3] } });
      assert.deepEqual(problemsOf(dedicated(), facts), [
        'VM "app-1": cpuPinning.vcpus: a dedicated VM runs each vCPU on one host CPU of its own: give one distinct CPU per vCPU',
        'VM "app-1": cpuPinning.emulator: the emulator threads must not run on the VM\'s dedicated CPUs: pin them to the shared pool',
      ]);
    });

    it('has one CPU list per vCPU, without repeats', () => {
      assert.deepEqual(
        problemsOf(
          shipped('app'),
          sampleFacts(shipped('app'), { cpuPinning: { vcpus: [[0, 1]], emulator: [0] } }),
        ),
        ['VM "app-1": cpuPinning.vcpus: give one host CPU list per vCPU: 2, got 1'],
      );
      assert.deepEqual(
        problemsOf(
          shipped('app'),
          sampleFacts(shipped('app'), { cpuPinning: { vcpus: [[0, 0], []], emulator: [-1] } }),
        ),
        [
          'VM "app-1": cpuPinning.vcpus[0]: must be a list of host CPU numbers without repeats, got a list',
          'VM "app-1": cpuPinning.vcpus[1]: must be a non-empty list of host CPU numbers, got a list',
          'VM "app-1": cpuPinning.emulator[0]: must be an integer from 0 to 4095, got -1',
        ],
      );
    });
  });
});
