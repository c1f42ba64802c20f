import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attributeOf, elementsOf, parseXml, textOf } from '@multiverse/vm-templates';
import type { ParsedElement } from '@multiverse/vm-templates';
import { DomainXmlCopyError, copyDomainXml, diskSourcesOf } from './domain-xml-copy.js';

// Shaped like `virsh dumpxml --inactive` of a VM hostd made: its metadata in Multiverse's namespace, two
// qcow2 volumes, a NIC, the serial console.
const DUMPED = `<domain type='qemu'>
  <name>disp-123</name>
  <uuid>0f8fad5b-d9cb-469f-a165-70867728950e</uuid>
  <description>A throw-away VM &amp; friends</description>
  <metadata>
    <mv:vm xmlns:mv="https://multiverse.invalid/vm/1"><mv:role>disposable</mv:role></mv:vm>
  </metadata>
  <memory unit='KiB'>262144</memory>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <kernel>/state/images/tiny@abc/vmlinuz</kernel>
    <cmdline>console=ttyS0 multiverse.hostname=disp-123</cmdline>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/state/vms/disp-123/private/00aa.qcow2'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/state/vms/disp-123/run/volatile.qcow2'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='mv-inside'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
  </devices>
</domain>
`;

const child = (parent: ParsedElement, name: string): ParsedElement => {
  const found = elementsOf(parent).find((element) => element.localName === name);
  assert.ok(found !== undefined, `<${parent.name}> has no <${name}>`);
  return found;
};

describe('copyDomainXml', () => {
  const copied = () =>
    parseXml(
      copyDomainXml(DUMPED, {
        name: 'mv-bench-copy',
        uuid: '11111111-2222-4333-8444-555555555555',
        diskFile: ({ target }) => `/bench/${target}.qcow2`,
      }),
    );

  it('lists the file-backed disks with their guest devices', () => {
    assert.deepEqual(diskSourcesOf(DUMPED), [
      { file: '/state/vms/disp-123/private/00aa.qcow2', target: 'vdb' },
      { file: '/state/vms/disp-123/run/volatile.qcow2', target: 'vdc' },
    ]);
  });

  it('renames the domain, gives it the new UUID and reads its disks from the new files', () => {
    const domain = copied();
    assert.equal(textOf(child(domain, 'name')), 'mv-bench-copy');
    assert.equal(textOf(child(domain, 'uuid')), '11111111-2222-4333-8444-555555555555');
    const sources = elementsOf(child(domain, 'devices'))
      .filter((element) => element.localName === 'disk')
      .map((disk) => attributeOf(child(disk, 'source'), 'file'));
    assert.deepEqual(sources, ['/bench/vdb.qcow2', '/bench/vdc.qcow2']);
  });

  it('drops the Multiverse metadata and the MAC, and keeps everything else as it was', () => {
    const domain = copied();
    assert.ok(!elementsOf(domain).some((element) => element.localName === 'metadata'));
    const nic = child(child(domain, 'devices'), 'interface');
    assert.deepEqual(
      elementsOf(nic).map((element) => element.localName),
      ['source', 'model'],
    );
    assert.equal(attributeOf(domain, 'type'), 'qemu');
    assert.equal(textOf(child(domain, 'description')), 'A throw-away VM & friends');
    assert.equal(textOf(child(child(domain, 'os'), 'cmdline')), 'console=ttyS0 multiverse.hostname=disp-123');
    assert.equal(attributeOf(child(child(domain, 'os'), 'type'), 'machine'), 'pc-q35-7.2');
  });

  it('draws a fresh UUID when none is given', () => {
    const uuidOf = () =>
      textOf(child(parseXml(copyDomainXml(DUMPED, { name: 'x', diskFile: ({ file }) => file })), 'uuid'));
    const [first, second] = [uuidOf(), uuidOf()];
    assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(first, second);
    assert.notEqual(first, '0f8fad5b-d9cb-469f-a165-70867728950e');
  });

  it('escapes what it writes: a path with markup characters stays one attribute value', () => {
    const xml = copyDomainXml(DUMPED, { name: 'x', diskFile: () => `/odd/'a'<b>&"c".qcow2` });
    const disk = child(child(parseXml(xml), 'devices'), 'disk');
    assert.equal(attributeOf(child(disk, 'source'), 'file'), `/odd/'a'<b>&"c".qcow2`);
  });

  it('refuses what it cannot copy faithfully: namespaced elements outside the metadata, non-file disks', () => {
    const withCommandLine = DUMPED.replace(
      '</devices>',
      '</devices><qemu:commandline xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"/>',
    );
    assert.throws(
      () => copyDomainXml(withCommandLine, { name: 'x', diskFile: ({ file }) => file }),
      DomainXmlCopyError,
    );
    const withBlockDisk = DUMPED.replace(
      "<disk type='file' device='disk'>",
      "<disk type='block' device='disk'>",
    );
    assert.throws(() => diskSourcesOf(withBlockDisk), { code: 'BENCH_DOMAIN_XML_UNSUPPORTED' });
    assert.throws(() => copyDomainXml('<network/>', { name: 'x', diskFile: ({ file }) => file }), {
      code: 'BENCH_DOMAIN_XML_UNSUPPORTED',
    });
  });
});
