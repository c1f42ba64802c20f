import { CpuPlanError } from './cpu-plan-error.js';
import { MAX_CPU_ID } from './cpu-set-parser.js';

/** One online host CPU (a hardware thread) and where it sits. */
export interface HostCpu {
  readonly id: number;
  /** The NUMA cell holding the CPU. */
  readonly node: number;
  readonly socket: number;
  /** The online CPUs sharing this CPU's core (its SMT threads), itself included, ascending. */
  readonly siblings: readonly number[];
}

/** What the planner knows of the host: its online CPUs and its memory. */
export interface HostTopology {
  /** Online CPUs, ascending by id. */
  readonly cpus: readonly HostCpu[];
  /** CPUs present but offline: shown, never planned. */
  readonly offlineCpus: readonly number[];
  readonly memoryBytes: number;
}

/**
 * Checks a topology and returns it in canonical order. Every topology the planner sees goes through
 * here, whether read from libvirt or written by a test, so the planner can rely on it.
 */
export function hostTopology(input: {
  cpus: readonly HostCpu[];
  offlineCpus?: readonly number[];
  memoryBytes: number;
}): HostTopology {
  const problems: string[] = [];
  const isCpuId = (value: number) => Number.isInteger(value) && value >= 0 && value <= MAX_CPU_ID;
  const byId = new Map<number, HostCpu>();
  for (const cpu of input.cpus) {
    if (!isCpuId(cpu.id)) problems.push(`CPU id ${cpu.id} is not a whole number from 0 to ${MAX_CPU_ID}`);
    else if (byId.has(cpu.id)) problems.push(`CPU ${cpu.id} is listed twice`);
    else byId.set(cpu.id, cpu);
    if (!Number.isInteger(cpu.node) || cpu.node < 0) problems.push(`CPU ${cpu.id} has NUMA cell ${cpu.node}`);
    if (!Number.isInteger(cpu.socket) || cpu.socket < 0)
      problems.push(`CPU ${cpu.id} has socket ${cpu.socket}`);
  }
  if (byId.size === 0) problems.push('no CPU is online');
  for (const cpu of byId.values()) {
    const siblings = [...cpu.siblings].sort((a, b) => a - b);
    if (!siblings.includes(cpu.id)) problems.push(`CPU ${cpu.id} is not among its own siblings`);
    for (const siblingId of siblings) {
      const sibling = byId.get(siblingId);
      if (sibling === undefined) {
        problems.push(`CPU ${cpu.id} names CPU ${siblingId} as a sibling, which is not an online CPU`);
      } else if (
        sibling.node !== cpu.node ||
        sibling.socket !== cpu.socket ||
        [...sibling.siblings].sort((a, b) => a - b).join() !== siblings.join()
      ) {
        problems.push(`CPUs ${cpu.id} and ${siblingId} disagree about the core they share`);
      }
    }
  }
  const offlineCpus = [...new Set(input.offlineCpus ?? [])].sort((a, b) => a - b);
  for (const cpu of offlineCpus) {
    if (!isCpuId(cpu)) problems.push(`offline CPU ${cpu} is not a whole number from 0 to ${MAX_CPU_ID}`);
    else if (byId.has(cpu)) problems.push(`CPU ${cpu} is listed both online and offline`);
  }
  if (!Number.isSafeInteger(input.memoryBytes) || input.memoryBytes <= 0)
    problems.push(`host memory ${input.memoryBytes} is not a positive number of bytes`);
  if (problems.length > 0) {
    throw new CpuPlanError(
      'HOST_TOPOLOGY_INVALID',
      `the host CPU topology does not make sense: ${problems.join('; ')}. ` +
        'Check `virsh capabilities` and `virsh nodecpumap` on the host.',
    );
  }
  return {
    cpus: [...byId.values()]
      .sort((a, b) => a.id - b.id)
      .map((cpu) => ({ ...cpu, siblings: [...cpu.siblings].sort((a, b) => a - b) })),
    offlineCpus,
    memoryBytes: input.memoryBytes,
  };
}

/** The cores of a topology: each a list of sibling CPUs, ascending, ordered by their first CPU. */
export function coresOf(topology: HostTopology): (readonly number[])[] {
  const cores = new Map<number, readonly number[]>();
  for (const cpu of topology.cpus) cores.set(cpu.siblings[0] ?? cpu.id, cpu.siblings);
  return [...cores.entries()].sort(([a], [b]) => a - b).map(([, siblings]) => siblings);
}

/** The NUMA cells of a topology, ascending. */
export function nodesOf(topology: HostTopology): number[] {
  return [...new Set(topology.cpus.map((cpu) => cpu.node))].sort((a, b) => a - b);
}
