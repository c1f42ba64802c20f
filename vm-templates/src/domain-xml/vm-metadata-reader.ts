import { describeIssues, formatPath } from '../templates/template-issues.js';
import { DomainXmlError } from './domain-xml-error.js';
import { VM_METADATA_ELEMENT, VM_METADATA_NAMESPACE, vmMetadataSchema } from './vm-metadata.js';
import type { VmMetadata } from './vm-metadata.js';
import { XmlError } from './xml-error.js';
import { attributeOf, elementsOf, parseXml, textOf } from './xml-reader.js';
import type { ParsedElement } from './xml-reader.js';

const CHECKPOINT_ATTRIBUTES = ['id', 'createdAt', 'pinned'] as const;

/**
 * Reads Multiverse's metadata from a domain XML (`virsh dumpxml`, virDomainGetXMLDesc). Returns
 * null for a domain without it — one Multiverse did not create — and throws METADATA_INVALID when
 * it is there but does not follow the schema: hostd must not guess at a VM's role or checkpoints.
 */
export function readVmMetadata(domainXml: string): VmMetadata | null {
  const root = parse(domainXml);
  return fromElement(() => {
    if (root.namespace !== null || root.localName !== 'domain') {
      throw new XmlError('XML_MALFORMED', `the root element is <${root.name}>, not <domain>`);
    }
    const found = elementsOf(root)
      .filter((child) => child.localName === 'metadata' && child.namespace === null)
      .flatMap((metadata) =>
        elementsOf(metadata).filter((child) => child.namespace === VM_METADATA_NAMESPACE),
      );
    if (found.length > 1 || (found[0] !== undefined && found[0].localName !== VM_METADATA_ELEMENT)) {
      throw new XmlError(
        'XML_MALFORMED',
        `<metadata> must hold one <${VM_METADATA_ELEMENT}> element of our namespace`,
      );
    }
    return found[0] ?? null;
  });
}

/**
 * Reads the answer of virDomainGetMetadata (type ELEMENT, uri VM_METADATA_NAMESPACE): our element,
 * which libvirt hands back stripped of its namespace.
 */
export function readVmMetadataElement(xml: string): VmMetadata {
  const root = parse(xml);
  const metadata = fromElement(() => {
    const ours = root.namespace === null || root.namespace === VM_METADATA_NAMESPACE;
    if (!ours || root.localName !== VM_METADATA_ELEMENT) {
      throw new XmlError('XML_MALFORMED', `the root element is <${root.name}>, not <${VM_METADATA_ELEMENT}>`);
    }
    return root;
  });
  if (metadata === null) throw new DomainXmlError('METADATA_INVALID', ['no metadata element']);
  return metadata;
}

function parse(xml: string): ParsedElement {
  try {
    return parseXml(xml);
  } catch (error) {
    if (!(error instanceof XmlError)) throw error;
    throw new DomainXmlError('DOMAIN_XML_MALFORMED', [`the XML cannot be read: ${error.message}`], {
      cause: error,
    });
  }
}

/** Finds our element, turns it into plain data and lets the schema check every value. */
function fromElement(find: () => ParsedElement | null): VmMetadata | null {
  const problems: string[] = [];
  try {
    const vm = find();
    if (vm === null) return null;
    const fields = plainFields(vm, problems);
    if (problems.length === 0) {
      const parsed = vmMetadataSchema.safeParse(fields);
      if (parsed.success) return parsed.data;
      for (const problem of describeIssues(parsed.error, fields)) {
        const field = formatPath(problem.path);
        problems.push(field === null ? problem.message : `${field}: ${problem.message}`);
      }
    }
  } catch (error) {
    if (!(error instanceof XmlError)) throw error;
    problems.push(error.message);
  }
  throw new DomainXmlError(
    'METADATA_INVALID',
    problems.map((problem) => `Multiverse metadata (${VM_METADATA_NAMESPACE}): ${problem}`),
  );
}

/** The element as plain data in the shape of `vmMetadataSchema`; structural problems are collected. */
function plainFields(vm: ParsedElement, problems: string[]): Record<string, unknown> {
  checkAttributes(vm, [], problems);
  const fields: Record<string, unknown> = {};
  for (const child of elementsOf(vm)) {
    const key = child.localName;
    checkAttributes(child, [], problems);
    if (child.namespace !== vm.namespace) {
      problems.push(`<${child.name}> is not in the namespace of <${vm.name}>`);
    } else if (key in fields) {
      problems.push(`<${child.name}> appears more than once`);
    } else if (key === 'checkpoints') {
      fields[key] = elementsOf(child).map((checkpoint, index) =>
        plainCheckpoint(checkpoint, vm.namespace, index, problems),
      );
    } else {
      const text = textOf(child);
      fields[key] = key === 'ephemeral' ? booleanOrText(text) : text;
    }
  }
  return fields;
}

function plainCheckpoint(
  checkpoint: ParsedElement,
  namespace: string | null,
  index: number,
  problems: string[],
): Record<string, unknown> {
  const where = `checkpoints[${index}]`;
  if (checkpoint.namespace !== namespace || checkpoint.localName !== 'checkpoint') {
    problems.push(`${where}: <${checkpoint.name}> is not a checkpoint`);
    return {};
  }
  checkAttributes(checkpoint, CHECKPOINT_ATTRIBUTES, problems);
  const [message, ...others] = elementsOf(checkpoint);
  if (
    message === undefined ||
    others.length > 0 ||
    message.namespace !== namespace ||
    message.localName !== 'message'
  ) {
    problems.push(`${where}: must hold exactly one <message> element`);
    return {};
  }
  checkAttributes(message, [], problems);
  const pinned = attributeOf(checkpoint, 'pinned');
  return {
    id: attributeOf(checkpoint, 'id'),
    createdAt: attributeOf(checkpoint, 'createdAt'),
    message: textOf(message),
    pinned: pinned === undefined ? undefined : booleanOrText(pinned),
  };
}

function checkAttributes(element: ParsedElement, allowed: readonly string[], problems: string[]): void {
  for (const attribute of element.attributes) {
    if (attribute.namespace !== null || !allowed.includes(attribute.localName)) {
      const expected = allowed.length === 0 ? 'it has none' : `it has ${allowed.join(', ')}`;
      problems.push(`<${element.name}> has an unknown attribute ${attribute.name} (${expected})`);
    }
  }
}

/** "true" and "false" become booleans; anything else stays text, for the schema to report as found. */
function booleanOrText(text: string): boolean | string {
  return text === 'true' ? true : text === 'false' ? false : text;
}
