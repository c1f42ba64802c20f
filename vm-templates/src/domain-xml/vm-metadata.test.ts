import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainXmlError } from './domain-xml-error.js';
import { VM_METADATA_NAMESPACE, renderVmMetadataForLibvirt, vmMetadataElement } from './vm-metadata.js';
import type { VmMetadata } from './vm-metadata.js';
import { readVmMetadata, readVmMetadataElement } from './vm-metadata-reader.js';
import { element, renderXml } from './xml-writer.js';

const METADATA: VmMetadata = {
  role: 'app',
  template: 'app',
  image: { name: 'debian', sha256: 'c'.repeat(64) },
  router: null,
  pinning: 'dedicated',
  ephemeral: false,
  checkpoints: [
    {
      id: '0123456789abcdef',
      createdAt: '2025-01-31T12:00:00.000Z',
      message: 'before the upgrade',
      pinned: true,
    },
    { id: 'fedcba9876543210', createdAt: '2025-02-01T08:30:15.250Z', message: '', pinned: false },
  ],
};

function domainWith(metadataXml: string): string {
  return `<domain type="qemu"><name>x</name><metadata>${metadataXml}</metadata></domain>`;
}

function ours(body: string, attributes = ''): string {
  return `<mv:vm xmlns:mv="${VM_METADATA_NAMESPACE}"${attributes}>${body}</mv:vm>`;
}

const VALID_BODY =
  '<mv:role>app</mv:role><mv:template>app</mv:template>' +
  `<mv:image>debian@${'c'.repeat(64)}</mv:image><mv:router>none</mv:router>` +
  '<mv:pinning>shared</mv:pinning><mv:ephemeral>false</mv:ephemeral><mv:checkpoints/>';

function problemsOf(xml: string): readonly string[] {
  try {
    readVmMetadata(xml);
  } catch (error) {
    assert.ok(error instanceof DomainXmlError, String(error));
    assert.equal(error.code, 'METADATA_INVALID');
    return error.problems.map((problem) =>
      problem.replace(`Multiverse metadata (${VM_METADATA_NAMESPACE}): `, ''),
    );
  }
  assert.fail('expected the metadata to be rejected');
}

describe('VM metadata', () => {
  it('records the managing hostd when given, and reads metadata made before it was recorded', () => {
    const host = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
    const withHost = domainWith(renderXml(vmMetadataElement({ ...METADATA, host })));
    assert.equal(readVmMetadata(withHost)?.host, host);
    assert.equal(readVmMetadata(domainWith(ours(VALID_BODY)))?.host, undefined);
    assert.deepEqual(problemsOf(domainWith(ours(VALID_BODY + '<mv:host>not-a-uuid</mv:host>'))), [
      'host: must be a host id: a UUID in lowercase, got "not-a-uuid"',
    ]);
  });

  it('round-trips through a domain XML, whatever prefix a writer chose', () => {
    const xml = renderXml(
      element(
        'domain',
        { type: 'kvm' },
        element('name', {}, 'app-1'),
        element('metadata', {}, vmMetadataElement(METADATA)),
      ),
    );
    assert.deepEqual(readVmMetadata(xml), METADATA);
    assert.deepEqual(
      readVmMetadata(xml.replaceAll('mv:', 'other:').replace('xmlns:mv', 'xmlns:other')),
      METADATA,
    );
    assert.deepEqual(
      readVmMetadata(xml.replaceAll('<mv:', '<').replaceAll('</mv:', '</').replace('xmlns:mv', 'xmlns')),
      METADATA,
    );
  });

  it('reads the namespace-free form libvirt takes and gives back through its metadata API', () => {
    const fragment = renderVmMetadataForLibvirt(METADATA);
    assert.doesNotMatch(fragment, /xmlns|mv:/);
    assert.deepEqual(readVmMetadataElement(fragment), METADATA);
    assert.throws(() => readVmMetadataElement('<other/>'), {
      code: 'METADATA_INVALID',
      message: `Multiverse metadata (${VM_METADATA_NAMESPACE}): the root element is <other>, not <vm>`,
    });
  });

  it('answers null for a domain Multiverse did not create', () => {
    assert.equal(readVmMetadata('<domain type="kvm"><name>foreign</name></domain>'), null);
    assert.equal(readVmMetadata(domainWith('<x:y xmlns:x="urn:someone-else"/>')), null);
  });

  it('refuses XML that is not well-formed, with its own code', () => {
    assert.throws(
      () => readVmMetadata('<domain><metadata></domain>'),
      (error: unknown) => {
        assert.ok(error instanceof DomainXmlError);
        assert.equal(error.code, 'DOMAIN_XML_MALFORMED');
        assert.equal(error.message, 'the XML cannot be read: line 1, column 19: </domain> closes <metadata>');
        return true;
      },
    );
  });

  const invalid: [string, string, string[]][] = [
    [
      'a missing field',
      VALID_BODY.replace('<mv:role>app</mv:role>', ''),
      ['role: required: must be one of controller, router, app, utility, disposable, fallback'],
    ],
    [
      'an unknown element',
      `${VALID_BODY}<mv:colour>red</mv:colour>`,
      [
        'unknown key "colour"; known keys: role, template, image, router, pinning, ephemeral, host, checkpoints',
      ],
    ],
    ['a repeated element', `${VALID_BODY}<mv:role>router</mv:role>`, ['<mv:role> appears more than once']],
    [
      'an element of another namespace',
      `${VALID_BODY}<role xmlns="urn:x">app</role>`,
      ['<role> is not in the namespace of <mv:vm>'],
    ],
    ['a bad boolean', VALID_BODY.replace('>false<', '>no<'), ['ephemeral: must be true or false, got "no"']],
    [
      'an unpinned image',
      VALID_BODY.replace(`@${'c'.repeat(64)}`, ''),
      ['image: must be an image pinned as NAME@SHA256 (64 lowercase hex digits), got "debian"'],
    ],
    [
      'an element inside a text field',
      VALID_BODY.replace('<mv:role>app</mv:role>', '<mv:role><mv:x/></mv:role>'),
      ['<mv:role> must hold only text, but holds <mv:x>'],
    ],
    [
      'a malformed checkpoint',
      VALID_BODY.replace(
        '<mv:checkpoints/>',
        '<mv:checkpoints><mv:checkpoint id="XYZ" createdAt="2025-13-01T00:00:00.000Z" pinned="true" extra="1"><mv:message>m</mv:message></mv:checkpoint></mv:checkpoints>',
      ),
      ['<mv:checkpoint> has an unknown attribute extra (it has id, createdAt, pinned)'],
    ],
    [
      'bad checkpoint values',
      VALID_BODY.replace(
        '<mv:checkpoints/>',
        '<mv:checkpoints><mv:checkpoint id="XYZ" createdAt="2025-13-01T00:00:00.000Z" pinned="yes"><mv:message>m</mv:message></mv:checkpoint></mv:checkpoints>',
      ),
      [
        'checkpoints[0].id: must be 16 lowercase hex digits, got "XYZ"',
        'checkpoints[0].createdAt: must be a UTC time such as 2025-01-31T12:00:00.000Z, got "2025-13-01T00:00:00.000Z"',
        'checkpoints[0].pinned: must be true or false, got "yes"',
      ],
    ],
    [
      'a checkpoint without its message',
      VALID_BODY.replace(
        '<mv:checkpoints/>',
        '<mv:checkpoints><mv:checkpoint id="0123456789abcdef" createdAt="2025-01-01T00:00:00.000Z" pinned="true"/></mv:checkpoints>',
      ),
      ['checkpoints[0]: must hold exactly one <message> element'],
    ],
  ];
  for (const [name, body, problems] of invalid) {
    it(`refuses ${name}, naming the field`, () => {
      assert.deepEqual(problemsOf(domainWith(ours(body))), problems);
    });
  }

  it('refuses two elements of our namespace in one domain', () => {
    assert.deepEqual(problemsOf(domainWith(ours(VALID_BODY) + ours(VALID_BODY))), [
      '<metadata> must hold one <vm> element of our namespace',
    ]);
  });
});
