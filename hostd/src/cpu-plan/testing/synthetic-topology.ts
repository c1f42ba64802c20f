/**
 * Test support: host topologies that are not this machine's, numbered the way Linux numbers x86 CPUs
 * (all first threads of every core, then all second threads: on 2×8 cores with SMT, CPU 3's sibling is
 * 19), and the capabilities XML libvirt would describe them with.
 */
import { element, formatCpuSet, renderXml } from '@multiverse/vm-templates';
import { hostTopology } from '../host-topology.js';
import type { HostCpu, HostTopology } from '../host-topology.js';

export const GIB = 1024 * 1024 * 1024;

export interface SyntheticHost {
  readonly sockets: number;
  readonly coresPerSocket: number;
  readonly threadsPerCore: number;
  /** NUMA cells per socket; cores are split evenly between them. */
  readonly nodesPerSocket?: number;
  readonly offlineCpus?: readonly number[];
  readonly memoryBytes?: number;
}

export function syntheticTopology(host: SyntheticHost): HostTopology {
  const nodesPerSocket = host.nodesPerSocket ?? 1;
  const totalCores = host.sockets * host.coresPerSocket;
  const coresPerNode = Math.ceil(host.coresPerSocket / nodesPerSocket);
  const offline = new Set(host.offlineCpus ?? []);
  const cpus: HostCpu[] = [];
  for (let core = 0; core < totalCores; core += 1) {
    const socket = Math.floor(core / host.coresPerSocket);
    const node = socket * nodesPerSocket + Math.floor((core % host.coresPerSocket) / coresPerNode);
    const threads = Array.from({ length: host.threadsPerCore }, (_, thread) => thread * totalCores + core);
    const siblings = threads.filter((cpu) => !offline.has(cpu));
    for (const id of siblings) cpus.push({ id, node, socket, siblings });
  }
  return hostTopology({ cpus, offlineCpus: [...offline], memoryBytes: host.memoryBytes ?? 64 * GIB });
}

/** The `<capabilities>` document libvirt would report for a topology (only what the reader looks at). */
export function capabilitiesXmlOf(topology: HostTopology): string {
  const nodes = [...new Set(topology.cpus.map((cpu) => cpu.node))].sort((a, b) => a - b);
  const cell = (node: number) => {
    const cpus = topology.cpus.filter((cpu) => cpu.node === node);
    return element(
      'cell',
      { id: node },
      element('memory', { unit: 'KiB' }, String(topology.memoryBytes / 1024 / nodes.length)),
      element(
        'cpus',
        { num: cpus.length + (node === nodes[0] ? topology.offlineCpus.length : 0) },
        // libvirt lists an offline CPU with its id alone.
        ...(node === nodes[0] ? topology.offlineCpus.map((id) => element('cpu', { id })) : []),
        ...cpus.map((cpu) =>
          element('cpu', {
            id: cpu.id,
            socket_id: cpu.socket,
            die_id: 0,
            core_id: cpu.siblings[0] ?? cpu.id,
            siblings: formatCpuSet(cpu.siblings),
          }),
        ),
      ),
    );
  };
  return renderXml(
    element(
      'capabilities',
      {},
      element(
        'host',
        {},
        element('uuid', {}, '5e1f2a8c-3b0d-4c61-9d2e-7a4b6c8d0e1f'),
        element('cpu', {}, element('arch', {}, 'x86_64')),
        element('topology', {}, element('cells', { num: nodes.length }, ...nodes.map(cell))),
      ),
    ),
  );
}

/** The node CPU map of a topology: one entry per CPU up to the highest, online or not. */
export function cpuMapOf(topology: HostTopology): { online: boolean[] } {
  const ids = [...topology.cpus.map((cpu) => cpu.id), ...topology.offlineCpus];
  const online = new Set(topology.cpus.map((cpu) => cpu.id));
  return { online: Array.from({ length: Math.max(...ids) + 1 }, (_, cpu) => online.has(cpu)) };
}
