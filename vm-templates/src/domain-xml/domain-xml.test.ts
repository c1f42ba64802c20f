import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadTemplateDirectory, shippedTemplatesDirectory } from '../templates/template-loader.js';
import type { VmTemplate } from '../templates/template-schema.js';
import { domainElement, generateDomainXml } from './domain-xml.js';
import { DomainXmlError } from './domain-xml-error.js';
import { VM_METADATA_NAMESPACE, VM_METADATA_PREFIX, renderVmMetadataForLibvirt } from './vm-metadata.js';
import type { VmMetadata } from './vm-metadata.js';
import { readVmMetadata, readVmMetadataElement } from './vm-metadata-reader.js';
import { buildVmModel } from './vm-model.js';
import {
  assertValidDomainXml,
  canonicalFormOf,
  libxmlCanonicalForm,
  withTemporaryDirectory,
} from './test-support/libxml-tools.js';
import { quoteForVirsh, runVirshScript } from './test-support/virsh-test-driver.js';
import { sampleFacts } from './test-support/sample-facts.js';
import { attributeOf, elementsOf, parseXml, textOf } from './xml-reader.js';
import type { ParsedElement } from './xml-reader.js';

/** Text that would change a document's structure if any of it reached the XML unescaped. */
const HOSTILE_TEXT = [
  `<script>alert('x')</script>`,
  `"double" & 'single' quotes`,
  `]]> <![CDATA[ inside ]]>`,
  `-- <!-- not a comment --> --`,
  `</description><name>evil</name><description>`,
  `&amp; &lt; &#x41; &unknown;`,
  `ünïcödé 🙂 中文 עברית`,
  'first line\nsecond line\n',
  '\ttabbed\t',
];
const HOSTILE_DIRECTORY = `/srv/<vm> 'a' "b" & ]]> -- ünï 🙂`;

let templates: VmTemplate[];

before(async () => {
  templates = await loadTemplateDirectory(shippedTemplatesDirectory());
});

function template(name: string): VmTemplate {
  const found = templates.find((candidate) => candidate.name === name);
  assert.ok(found, `no shipped template ${name}`);
  return found;
}

function child(element: ParsedElement, name: string): ParsedElement {
  const found = elementsOf(element).filter((candidate) => candidate.name === name);
  assert.equal(found.length, 1, `exactly one <${name}> in <${element.name}>`);
  return found[0]!;
}

describe('domain XML of the shipped templates', () => {
  for (const domainType of ['kvm', 'qemu'] as const) {
    it(`validates against libvirt's schema for every role (type ${domainType})`, async () => {
      for (const shipped of templates) {
        const model = buildVmModel(shipped, sampleFacts(shipped));
        const xml = generateDomainXml(model, { domainType });
        await assertValidDomainXml(xml);
        assert.equal(attributeOf(parseXml(xml), 'type'), domainType);
        assert.deepEqual(readVmMetadata(xml), model.metadata);
      }
    });
  }

  it('boots kernels directly, with the VM name as hostname, disk images from vda, or from disk', () => {
    const fallback = parseXml(
      generateDomainXml(buildVmModel(template('fallback'), sampleFacts(template('fallback'))), {
        domainType: 'qemu',
      }),
    );
    const os = child(fallback, 'os');
    assert.match(textOf(child(os, 'kernel')), /\/vmlinuz$/);
    assert.equal(textOf(child(os, 'cmdline')), 'console=ttyS0 quiet multiverse.hostname=fallback-1');
    const inspected = child(child(fallback, 'devices'), 'disk');
    assert.equal(attributeOf(child(inspected, 'target'), 'dev'), 'vdd');
    assert.equal(elementsOf(inspected).filter((element) => element.name === 'readonly').length, 1);

    const router = parseXml(
      generateDomainXml(buildVmModel(template('router-tor'), sampleFacts(template('router-tor'))), {
        domainType: 'kvm',
      }),
    );
    const devices = child(router, 'devices');
    const disks = elementsOf(devices).filter((element) => element.name === 'disk');
    assert.deepEqual(
      disks.map((disk) => attributeOf(child(disk, 'target'), 'dev')),
      ['vda', 'vdc'],
    );
    const interfaces = elementsOf(devices).filter((element) => element.name === 'interface');
    assert.deepEqual(
      interfaces.map((entry) => attributeOf(child(entry, 'source'), 'network')),
      ['default', 'mv-sys-tor'],
    );
    // The Debian image has no bootloader: its kernel boots directly, named like the tiny one.
    assert.match(textOf(child(child(router, 'os'), 'cmdline')), / multiverse\.hostname=sys-tor$/);

    const diskBooted = { ...template('router-tor'), boot: 'disk' as const };
    const fromDisk = parseXml(
      generateDomainXml(buildVmModel(diskBooted, sampleFacts(diskBooted)), { domainType: 'kvm' }),
    );
    const osChildren = elementsOf(child(fromDisk, 'os')).map((element) => element.name);
    assert.deepEqual(osChildren, ['type', 'boot']);
    assert.equal(attributeOf(child(child(fromDisk, 'os'), 'boot'), 'dev'), 'hd');
  });

  it('pins dedicated vCPUs and the emulator threads', async () => {
    const dedicated: VmTemplate = { ...template('app'), pinning: 'dedicated' };
    const model = buildVmModel(
      dedicated,
      sampleFacts(dedicated, { cpuPinning: { vcpus: [[2], [3]], emulator: [0, 1] }, cpuShares: 2048 }),
    );
    const xml = generateDomainXml(model, { domainType: 'kvm' });
    await assertValidDomainXml(xml);
    const cputune = child(parseXml(xml), 'cputune');
    assert.equal(textOf(child(cputune, 'shares')), '2048');
    assert.deepEqual(
      elementsOf(cputune)
        .filter((element) => element.name === 'vcpupin')
        .map((pin) => [attributeOf(pin, 'vcpu'), attributeOf(pin, 'cpuset')]),
      [
        ['0', '2'],
        ['1', '3'],
      ],
    );
    assert.equal(attributeOf(child(cputune, 'emulatorpin'), 'cpuset'), '0-1');
  });
});

describe('hostile names, descriptions and paths', () => {
  function hostileModel() {
    const disposable = template('disposable');
    return buildVmModel(
      disposable,
      sampleFacts(disposable, {
        description: HOSTILE_TEXT.join(' | '),
        kernel: {
          kernelPath: `${HOSTILE_DIRECTORY}/vmlinuz`,
          initrdPath: `${HOSTILE_DIRECTORY}/initramfs <&>.cpio.gz`,
          arguments: `console=ttyS0 quiet multiverse.note="<&'>"`,
        },
        disks: {
          private: `${HOSTILE_DIRECTORY}/private.qcow2`,
          volatile: `${HOSTILE_DIRECTORY}/]]>volatile--.qcow2`,
        },
        checkpoints: [...HOSTILE_TEXT, '', '  \n  '].map((message, index) => ({
          id: `00000000000000${index.toString(16).padStart(2, '0')}`,
          createdAt: new Date(Date.UTC(2025, 0, 1, 0, index)).toISOString(),
          message,
          pinned: index % 2 === 0,
        })),
      }),
    );
  }

  it('cannot change the structure: libxml2 reads back exactly the tree that was meant', async () => {
    const model = hostileModel();
    const xml = generateDomainXml(model, { domainType: 'qemu' });
    await assertValidDomainXml(xml);
    assert.equal(
      await libxmlCanonicalForm(xml),
      canonicalFormOf(domainElement(model, { domainType: 'qemu' })),
    );
  });

  it('keeps every value byte for byte', () => {
    const model = hostileModel();
    const xml = generateDomainXml(model, { domainType: 'qemu' });
    const domain = parseXml(xml);
    assert.equal(textOf(child(domain, 'description')), HOSTILE_TEXT.join(' | '));
    const sources = elementsOf(child(domain, 'devices'))
      .filter((element) => element.name === 'disk')
      .map((disk) => attributeOf(child(disk, 'source'), 'file'));
    assert.deepEqual(sources, [
      `${HOSTILE_DIRECTORY}/private.qcow2`,
      `${HOSTILE_DIRECTORY}/]]>volatile--.qcow2`,
    ]);
    assert.equal(textOf(child(child(domain, 'os'), 'initrd')), `${HOSTILE_DIRECTORY}/initramfs <&>.cpio.gz`);
    assert.deepEqual(readVmMetadata(xml), model.metadata);
  });

  it('survives libvirt itself: defined, dumped, read and rewritten through virsh (test driver)', async () => {
    const hostile = hostileModel();
    const plain = buildVmModel(
      template('app'),
      sampleFacts(template('app'), { uuid: '0f8fad5b-d9cb-469f-a165-70867728950e' }),
    );
    const updated: VmMetadata = { ...plain.metadata, checkpoints: hostile.metadata.checkpoints };
    await withTemporaryDirectory(async (directory) => {
      const commands: string[] = [];
      for (const [index, model] of [hostile, plain].entries()) {
        const file = join(directory, `domain-${index}.xml`);
        await writeFile(file, generateDomainXml(model, { domainType: 'qemu' }));
        commands.push(`define ${file}`, `mark dump-${index}`, `dumpxml ${model.uuid}`);
        commands.push(`mark get-${index}`, `metadata ${model.uuid} --uri ${VM_METADATA_NAMESPACE}`);
      }
      // What hostd does after a checkpoint: replace our metadata element in place.
      commands.push(
        `metadata ${plain.uuid} --uri ${VM_METADATA_NAMESPACE} --key ${VM_METADATA_PREFIX} --set ${quoteForVirsh(renderVmMetadataForLibvirt(updated))}`,
        'mark after-set',
        `dumpxml ${plain.uuid}`,
        'mark end',
      );
      const output = await runVirshScript(commands);
      for (const [index, model] of [hostile, plain].entries()) {
        const dumped = output.get(`dump-${index}`) ?? '';
        assert.deepEqual(readVmMetadata(dumped), model.metadata, 'metadata in virsh dumpxml');
        assert.deepEqual(
          readVmMetadataElement(output.get(`get-${index}`) ?? ''),
          model.metadata,
          'virsh metadata --uri',
        );
        assert.equal(textOf(child(parseXml(dumped), 'description')), model.description);
      }
      assert.deepEqual(
        readVmMetadata(output.get('after-set') ?? ''),
        updated,
        'metadata after virsh metadata --set',
      );
    });
  });

  const badNames: [string, unknown][] = [
    ['a slash', 'app/1'],
    ['nothing', ''],
    ['too many characters', `a${'b'.repeat(32)}`],
    ['markup', 'a<b>'],
    ['a quote', "it's"],
    ['a newline', 'app\n1'],
    ['upper case', 'App'],
    ['a leading hyphen', '-app'],
    ['a reserved word', 'none'],
    ['not a string', 42],
  ];
  for (const [what, name] of badNames) {
    it(`refuses a VM name with ${what} at the model`, () => {
      const app = template('app');
      assert.throws(
        () => buildVmModel(app, { ...sampleFacts(app), name }),
        (error: unknown) => {
          assert.ok(error instanceof DomainXmlError);
          assert.equal(error.code, 'VM_MODEL_INVALID');
          assert.equal(error.problems.length, 1);
          assert.equal(
            error.problems[0],
            `VM ${JSON.stringify(name)}: name: must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen, other than "none" or "default" or "onion", got ${typeof name === 'string' ? JSON.stringify(name) : String(name)}`,
          );
          return true;
        },
      );
    });
  }
});
