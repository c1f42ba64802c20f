import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadTemplateDirectory, shippedTemplatesDirectory } from '../templates/template-loader.js';
import type { VmTemplate } from '../templates/template-schema.js';
import { generateDomainXml } from './domain-xml.js';
import { DomainXmlError } from './domain-xml-error.js';
import { buildVmModel } from './vm-model.js';
import { assertValidDomainXml } from './test-support/libxml-tools.js';
import { sampleFacts } from './test-support/sample-facts.js';
import { attributeOf, elementsOf, parseXml } from './xml-reader.js';
import type { ParsedElement } from './xml-reader.js';

const SECRET = '3b2f7a52-6f0e-4f51-9c55-1f0e3a9d2c10';
const BASE =
  '/var/lib/multiverse/disk-images/debian@0db3058276aaa118e4dbad53cf9bed93838ae9d6d752be53fe3c799fa42e00af.qcow2';
const LAYERS = ['/var/lib/multiverse/vms/c/private/b.qcow2', '/var/lib/multiverse/vms/c/private/a.qcow2'];

let templates: VmTemplate[];

before(async () => {
  templates = await loadTemplateDirectory(shippedTemplatesDirectory());
});

function template(name: string): VmTemplate {
  const found = templates.find((candidate) => candidate.name === name);
  assert.ok(found, `no shipped template ${name}`);
  return found;
}

function only(parent: ParsedElement, name: string): ParsedElement {
  const found = elementsOf(parent).filter((candidate) => candidate.name === name);
  assert.equal(found.length, 1, `exactly one <${name}> in <${parent.name}>`);
  return found[0]!;
}

/** The files of a disk's `<backingStore>` chain with each one's secret, and whether it ends explicitly. */
function chainOf(disk: ParsedElement): { layers: [string, string | null][]; closed: boolean } {
  const layers: [string, string | null][] = [];
  let store = only(disk, 'backingStore');
  for (;;) {
    const source = elementsOf(store).find((element) => element.name === 'source');
    if (source === undefined) return { layers, closed: elementsOf(store).length === 0 };
    const secret = elementsOf(source).find((element) => element.name === 'encryption');
    layers.push([
      attributeOf(source, 'file') ?? '',
      secret === undefined ? null : (attributeOf(only(secret, 'secret'), 'uuid') ?? null),
    ]);
    store = only(store, 'backingStore');
  }
}

describe('encrypted disks in the domain XML', () => {
  it('names the key for every encrypted layer and spells out each chain (libvirt schema-valid)', async () => {
    const controller = template('controller');
    const facts = sampleFacts(controller, {
      diskEncryption: { secretUuid: SECRET, privateBacking: LAYERS, rootBase: BASE },
    });
    for (const domainType of ['kvm', 'qemu'] as const) {
      const xml = generateDomainXml(buildVmModel(controller, facts), { domainType });
      await assertValidDomainXml(xml);
      const disks = elementsOf(only(parseXml(xml), 'devices')).filter((element) => element.name === 'disk');
      const byDevice = new Map(disks.map((disk) => [attributeOf(only(disk, 'target'), 'dev'), disk]));
      for (const disk of disks) {
        const encryption = only(only(disk, 'source'), 'encryption');
        assert.equal(attributeOf(encryption, 'format'), 'luks');
        assert.equal(attributeOf(only(encryption, 'secret'), 'type'), 'passphrase');
        assert.equal(attributeOf(only(encryption, 'secret'), 'uuid'), SECRET);
      }
      // root (vda) on the plain base; private (vdb) on two encrypted checkpoints; volatile (vdc) alone.
      assert.deepEqual(chainOf(byDevice.get('vda')!), { layers: [[BASE, null]], closed: true });
      assert.deepEqual(chainOf(byDevice.get('vdb')!), {
        layers: LAYERS.map((path) => [path, SECRET]),
        closed: true,
      });
      assert.deepEqual(chainOf(byDevice.get('vdc')!), { layers: [], closed: true });
    }
  });

  it('leaves plain VMs to libvirt’s probing: no <encryption>, no <backingStore>', () => {
    const controller = template('controller');
    const xml = generateDomainXml(buildVmModel(controller, sampleFacts(controller)), { domainType: 'kvm' });
    assert.ok(!xml.includes('<encryption'));
    assert.ok(!xml.includes('<backingStore'));
  });

  it('refuses facts that do not fit the VM’s volumes, naming each field', () => {
    const controller = template('controller');
    assert.throws(
      () => buildVmModel(controller, sampleFacts(controller, { diskEncryption: { secretUuid: SECRET } })),
      (error: unknown) =>
        error instanceof DomainXmlError &&
        /diskEncryption\.rootBase: an encrypted root overlay needs the base image/.test(error.message),
    );
    const fallback = template('fallback');
    assert.throws(
      () =>
        buildVmModel(
          fallback,
          sampleFacts(fallback, { diskEncryption: { secretUuid: SECRET, privateBacking: LAYERS } }),
        ),
      (error: unknown) =>
        error instanceof DomainXmlError &&
        /diskEncryption\.privateBacking: the VM has no private volume/.test(error.message) &&
        /fallback VM's own volumes are never encrypted/.test(error.message),
    );
    assert.throws(
      () =>
        buildVmModel(
          controller,
          sampleFacts(controller, { diskEncryption: { secretUuid: 'NOT-A-UUID', rootBase: BASE } }),
        ),
      (error: unknown) =>
        error instanceof DomainXmlError && /diskEncryption\.secretUuid: .*UUID/.test(error.message),
    );
  });
});
