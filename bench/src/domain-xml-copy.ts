import { randomUUID } from 'node:crypto';
import { attributeOf, elementsOf, parseXml, renderXml } from '@multiverse/vm-templates';
import type { ParsedElement, XmlElement, XmlNode } from '@multiverse/vm-templates';

/** A dumped domain XML this bench cannot copy faithfully. */
export class DomainXmlCopyError extends Error {
  readonly code = 'BENCH_DOMAIN_XML_UNSUPPORTED';
  constructor(message: string) {
    super(message);
    this.name = 'DomainXmlCopyError';
  }
}

/** A file-backed disk of a domain: where its data is and the guest device it appears as. */
export interface DomainDiskSource {
  readonly file: string;
  readonly target: string;
}

export interface DomainCopyOptions {
  readonly name: string;
  /** Default: a fresh random UUID. */
  readonly uuid?: string;
  /** Where the copy's disk (by its current file and guest device) is read from instead. */
  readonly diskFile: (disk: DomainDiskSource) => string;
}

/** The file-backed disks of a domain XML, in document order. */
export function diskSourcesOf(domainXml: string): DomainDiskSource[] {
  return fileDisks(devicesOf(parseXml(domainXml))).map(({ source, target }) => ({ file: source, target }));
}

/**
 * The same machine as `domainXml` under a new name and UUID, reading its disks from other files: what a user
 * who wants hostd's VM without hostd would hand `virsh create`. Multiverse's `<metadata>` is dropped, so no
 * hostd takes the copy for one of its VMs, and so are interface MACs, which libvirt then draws anew: two
 * machines running at once must not share one.
 */
export function copyDomainXml(domainXml: string, options: DomainCopyOptions): string {
  const domain = parseXml(domainXml);
  if (domain.localName !== 'domain')
    throw new DomainXmlCopyError(`the document is a <${domain.name}>, not a <domain>`);
  const diskFiles = new Map(
    fileDisks(devicesOf(domain)).map((disk) => [
      disk.element,
      options.diskFile({ file: disk.source, target: disk.target }),
    ]),
  );
  const uuid = options.uuid ?? randomUUID();

  const copy = (node: ParsedElement, parent: ParsedElement | null): XmlElement | null => {
    if (node.namespace !== null || node.attributes.some((attribute) => attribute.namespace !== null)) {
      throw new DomainXmlCopyError(
        `<${node.name}> is in XML namespace ${node.namespace ?? node.attributes.find((a) => a.namespace !== null)?.namespace}, which this copy would lose`,
      );
    }
    if (parent === domain && node.localName === 'metadata') return null;
    if (parent?.localName === 'interface' && node.localName === 'mac') return null;
    if (parent === domain && node.localName === 'name') return replaced(node, options.name);
    if (parent === domain && node.localName === 'uuid') return replaced(node, uuid);
    const newFile = parent === null ? undefined : diskFiles.get(parent);
    const attributes = node.attributes.map(({ name, value }): [string, string] =>
      newFile !== undefined && node.localName === 'source' && name === 'file'
        ? [name, newFile]
        : [name, value],
    );
    const children: XmlNode[] = [];
    for (const child of node.children) {
      if (typeof child === 'string') children.push(child);
      else {
        const copied = copy(child, node);
        if (copied !== null) children.push(copied);
      }
    }
    return { name: node.name, attributes, children };
  };
  return renderXml(copy(domain, null)!);
}

function replaced(node: ParsedElement, text: string): XmlElement {
  return { name: node.name, attributes: [], children: [text] };
}

function devicesOf(domain: ParsedElement): ParsedElement {
  const devices = elementsOf(domain).find((child) => child.localName === 'devices');
  if (devices === undefined) throw new DomainXmlCopyError('the domain has no <devices>');
  return devices;
}

function fileDisks(devices: ParsedElement): { element: ParsedElement; source: string; target: string }[] {
  const disks: { element: ParsedElement; source: string; target: string }[] = [];
  for (const disk of elementsOf(devices)) {
    if (disk.localName !== 'disk') continue;
    const children = elementsOf(disk);
    const source = children.find((child) => child.localName === 'source');
    const file = source === undefined ? undefined : attributeOf(source, 'file');
    const target = children.find((child) => child.localName === 'target');
    const dev = target === undefined ? undefined : attributeOf(target, 'dev');
    if (attributeOf(disk, 'type') !== 'file' || file === undefined || dev === undefined) {
      throw new DomainXmlCopyError(
        `a <disk> that is not a file with a source and a target device (type ${attributeOf(disk, 'type') ?? 'none'}): copying it is not supported`,
      );
    }
    disks.push({ element: disk, source: file, target: dev });
  }
  return disks;
}
