import type { LibvirtClient, NodeCpuMap } from '@multiverse/libvirt-ts';
import { XmlError, attributeOf, elementsOf, parseXml } from '@multiverse/vm-templates';
import type { ParsedElement } from '@multiverse/vm-templates';
import { CpuPlanError } from './cpu-plan-error.js';
import { parseCpuSet } from './cpu-set-parser.js';
import { hostTopology } from './host-topology.js';
import type { HostCpu, HostTopology } from './host-topology.js';

/**
 * The host topology as libvirt sees it: which CPUs are online from the node CPU map, and where each sits
 * (NUMA cell, socket, SMT siblings) from the capabilities XML, whose
 * `<host><topology><cells><cell id><cpus><cpu id socket_id core_id siblings>` describes every CPU.
 */
export async function readHostTopology(client: LibvirtClient): Promise<HostTopology> {
  const [capabilitiesXml, cpuMap, nodeInfo] = await Promise.all([
    client.getCapabilities(),
    client.nodeGetCpuMap(),
    client.nodeGetInfo(),
  ]);
  return parseHostTopology(capabilitiesXml, cpuMap, Number(nodeInfo.memoryKiB) * 1024);
}

export function parseHostTopology(
  capabilitiesXml: string,
  cpuMap: Pick<NodeCpuMap, 'online'>,
  memoryBytes: number,
): HostTopology {
  let root: ParsedElement;
  try {
    root = parseXml(capabilitiesXml);
  } catch (error) {
    if (error instanceof XmlError)
      throw invalid(`the capabilities XML is malformed: ${error.message}`, error);
    throw error;
  }
  const online = new Set(cpuMap.online.flatMap((isOnline, cpu) => (isOnline ? [cpu] : [])));
  const cells = child(child(child(root, 'capabilities', 'host'), 'host', 'topology'), 'topology', 'cells');
  const cpus: HostCpu[] = [];
  const described = new Set<number>();
  for (const cell of children(cells, 'cell')) {
    const node = integerAttribute(cell, 'id', 'cell');
    const cellCpus = children(cell, 'cpus')[0];
    for (const cpuElement of cellCpus === undefined ? [] : children(cellCpus, 'cpu')) {
      const id = integerAttribute(cpuElement, 'id', `cpu in cell ${node}`);
      described.add(id);
      if (!online.has(id)) continue;
      const siblingsText = attributeOf(cpuElement, 'siblings');
      if (siblingsText === undefined)
        throw invalid(`online CPU ${id} has no siblings attribute in the capabilities XML`);
      cpus.push({
        id,
        node,
        socket: integerAttribute(cpuElement, 'socket_id', `cpu ${id}`),
        // Offline threads still appear in sysfs sibling lists; only online ones can run anything.
        siblings: parseCpuSet(siblingsText).filter((sibling) => online.has(sibling)),
      });
    }
  }
  const undescribed = [...online].filter((cpu) => !described.has(cpu));
  if (undescribed.length > 0) {
    throw invalid(`online CPUs ${undescribed.join(', ')} are missing from the capabilities topology`);
  }
  const offlineCpus = cpuMap.online.flatMap((isOnline, cpu) => (isOnline ? [] : [cpu]));
  return hostTopology({ cpus, offlineCpus, memoryBytes });
}

function children(parent: ParsedElement, localName: string): ParsedElement[] {
  return elementsOf(parent).filter((element) => element.localName === localName);
}

function child(parent: ParsedElement, parentName: string, localName: string): ParsedElement {
  if (parent.localName !== parentName) throw invalid(`expected <${parentName}>, found <${parent.name}>`);
  const found = children(parent, localName)[0];
  if (found === undefined) throw invalid(`<${parentName}> has no <${localName}>`);
  return found;
}

function integerAttribute(element: ParsedElement, name: string, what: string): number {
  const text = attributeOf(element, name);
  if (text === undefined || !/^[0-9]{1,9}$/.test(text))
    throw invalid(
      `the ${what} has ${text === undefined ? 'no' : `a non-numeric (${JSON.stringify(text)})`} ${name}`,
    );
  return Number(text);
}

function invalid(why: string, cause?: unknown): CpuPlanError {
  return new CpuPlanError(
    'HOST_TOPOLOGY_INVALID',
    `cannot read the host CPU topology from libvirt: ${why}. Check \`virsh capabilities\` on the host; ` +
      "without a topology the planner cannot keep VMs off each other's cores.",
    { cause },
  );
}
