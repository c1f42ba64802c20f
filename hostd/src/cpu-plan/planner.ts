import { formatCpuSet } from '@multiverse/vm-templates';
import type { CpuPlan, CpuPlanWarning, HostCpuUse, PlannedVm } from './cpu-plan.js';
import { CpuPlanError } from './cpu-plan-error.js';
import { coresOf, hostTopology, nodesOf } from './host-topology.js';
import type { HostTopology } from './host-topology.js';
import { validateCpuPlanRequest } from './plan-request.js';
import type { CpuPlanRequest, SmtPolicy, ValidatedCpuPlanRequest } from './plan-request.js';

type VmRequest = ValidatedCpuPlanRequest['vms'][number];

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Plans which host CPUs every VM runs on. Pure and deterministic: the same topology and request give the
 * same plan. Dedicated VMs that pass their current pinning keep it while it still fits, so adding a VM
 * never moves the ones already running.
 */
export function planCpus(topology: HostTopology, request: CpuPlanRequest): CpuPlan {
  const host = hostTopology(topology);
  const checked = validateCpuPlanRequest(request);
  const onlineCpus = host.cpus.map((cpu) => cpu.id);
  const reservedCpus = reservedCpusOf(host, checked.reservedHostCpus);
  const reserved = new Set(reservedCpus);
  const available = new Set(onlineCpus.filter((cpu) => !reserved.has(cpu)));
  checkMemoryLimits(checked);

  const vms = [...checked.vms].sort(byName);
  const dedicated = vms.filter((vm) => vm.pinning === 'dedicated');
  const askedCpus = dedicated.reduce((sum, vm) => sum + vm.vcpus, 0);
  if (askedCpus > available.size) {
    throw overcommitted(dedicated, onlineCpus, reservedCpus, available, checked.smt, []);
  }

  const warnings: CpuPlanWarning[] = [];
  /** Host CPU → the dedicated VM whose vCPU runs there. */
  const vcpuOwner = new Map<number, string>();
  const vcpuCpus = new Map<string, readonly number[]>();
  const claim = (vm: VmRequest, cpus: readonly number[]) => {
    vcpuCpus.set(vm.name, cpus);
    for (const cpu of cpus) vcpuOwner.set(cpu, vm.name);
  };

  const keptVms = new Set<string>();
  for (const vm of dedicated) {
    if (vm.currentPinning === undefined) continue;
    const problem = whyPinningCannotBeKept(vm, available, reserved, vcpuOwner);
    if (problem === null) {
      claim(
        vm,
        vm.currentPinning.vcpus.map((cpus) => cpus[0] ?? -1),
      );
      keptVms.add(vm.name);
    } else {
      warnings.push({
        code: 'PINNING_MOVED',
        vm: vm.name,
        message: `${vm.name} cannot keep its CPUs (${problem}) and is placed again; restart it to apply`,
      });
    }
  }

  // Largest first, so big VMs find whole cores in one NUMA cell before small ones scatter over them.
  const toPlace = dedicated
    .filter((vm) => !keptVms.has(vm.name))
    .sort((a, b) => b.vcpus - a.vcpus || byName(a, b));
  const unplaced: VmRequest[] = [];
  for (const vm of toPlace) {
    const cpus = pickDedicatedCpus(
      host,
      vm.vcpus,
      (cpu) => available.has(cpu) && !vcpuOwner.has(cpu),
      checked.smt,
    );
    if (cpus === null) unplaced.push(vm);
    else claim(vm, cpus);
  }
  if (unplaced.length > 0) {
    throw overcommitted(dedicated, onlineCpus, reservedCpus, available, checked.smt, unplaced);
  }

  // A free thread beside a dedicated vCPU stays with that VM, for its own emulator threads: were it in
  // the shared pool, another VM would share the core's caches and execution units with the vCPU, which
  // is what SMT side channels (L1TF, MDS, port contention) read secrets through. The VM's own emulator
  // threads are in its trust domain already.
  const emulatorOwner = new Map<number, string>();
  for (const vm of dedicated) {
    for (const cpu of vcpuCpus.get(vm.name) ?? []) {
      for (const sibling of siblingsOf(host, cpu)) {
        if (available.has(sibling) && !vcpuOwner.has(sibling) && !emulatorOwner.has(sibling))
          emulatorOwner.set(sibling, vm.name);
      }
    }
  }

  const sharedPool = onlineCpus.filter(
    (cpu) => available.has(cpu) && !vcpuOwner.has(cpu) && !emulatorOwner.has(cpu),
  );
  const ownEmulatorCpus = (name: string) =>
    [...emulatorOwner.entries()]
      .filter(([, owner]) => owner === name)
      .map(([cpu]) => cpu)
      .sort((a, b) => a - b);
  const needsSharedCpus =
    vms.some((vm) => vm.pinning === 'shared') ||
    dedicated.some((vm) => ownEmulatorCpus(vm.name).length === 0);
  const sharedPoolOnReservedCpus = sharedPool.length === 0 && reservedCpus.length > 0;
  const sharedCpus = sharedPool.length > 0 ? sharedPool : reservedCpus;
  if (needsSharedCpus && sharedCpus.length === 0) {
    throw new CpuPlanError(
      'NO_CPU_FOR_SHARED_WORK',
      `every online CPU (${formatCpuSet(onlineCpus)}) is dedicated and none is reserved for the host, so ` +
        'shared VMs and emulator threads have nowhere to run. Reserve a host CPU, or dedicate fewer CPUs.',
    );
  }
  if (needsSharedCpus && sharedPoolOnReservedCpus) {
    warnings.push({
      code: 'SHARED_POOL_ON_HOST_CPUS',
      vm: null,
      message:
        `no CPU is left for the shared pool: shared VMs and emulator threads run on the host's reserved ` +
        `CPUs ${formatCpuSet(reservedCpus)}. Dedicate fewer CPUs to keep the host's CPUs to itself`,
    });
  }

  const plannedVms: PlannedVm[] = vms.map((vm) => {
    const resources = checked.roleResources[vm.role];
    const common = {
      name: vm.name,
      role: vm.role,
      pinning: vm.pinning,
      vcpus: vm.vcpus,
      cpuShares: resources.cpuShares,
      memoryBytes: vm.memoryBytes,
    };
    const cpus = vcpuCpus.get(vm.name);
    if (cpus === undefined) {
      return {
        ...common,
        placement: 'shared',
        cpuPinning: { vcpus: Array.from({ length: vm.vcpus }, () => sharedCpus), emulator: sharedCpus },
        dedicatedCpus: [],
        numaNodes: nodesOfCpus(host, sharedCpus),
      };
    }
    const ownEmulator = ownEmulatorCpus(vm.name);
    return {
      ...common,
      placement: keptVms.has(vm.name) ? 'kept' : 'placed',
      cpuPinning: {
        vcpus: cpus.map((cpu) => [cpu]),
        emulator: ownEmulator.length > 0 ? ownEmulator : sharedCpus,
      },
      dedicatedCpus: [...cpus, ...ownEmulator].sort((a, b) => a - b),
      numaNodes: nodesOfCpus(host, cpus),
    };
  });

  warnings.push(...placementWarnings(host, plannedVms, vcpuOwner, emulatorOwner, reserved));
  const plannedMemoryBytes = vms.reduce((sum, vm) => sum + vm.memoryBytes, 0);
  warnings.push(...memoryWarnings(host.memoryBytes, checked.hostMemoryReserveBytes, plannedMemoryBytes));

  return {
    host: {
      onlineCpus,
      offlineCpus: host.offlineCpus,
      reservedCpus,
      sharedPool: sharedCpus,
      sharedPoolOnReservedCpus,
      smt: checked.smt,
      memoryBytes: host.memoryBytes,
      hostMemoryReserveBytes: checked.hostMemoryReserveBytes,
      plannedMemoryBytes,
    },
    cpus: host.cpus.map((cpu) => ({
      id: cpu.id,
      node: cpu.node,
      socket: cpu.socket,
      siblings: cpu.siblings,
      use: useOf(cpu.id, plannedVms, reserved, emulatorOwner),
    })),
    vms: plannedVms,
    warnings,
  };
}

/** Where a dedicated VM got less than the rules prefer: cores shared with others, more than one NUMA cell. */
function placementWarnings(
  host: HostTopology,
  vms: readonly PlannedVm[],
  vcpuOwner: ReadonlyMap<number, string>,
  emulatorOwner: ReadonlyMap<number, string>,
  reserved: ReadonlySet<number>,
): CpuPlanWarning[] {
  const warnings: CpuPlanWarning[] = [];
  for (const vm of vms) {
    if (vm.placement === 'shared') continue;
    if (vm.numaNodes.length > 1) {
      warnings.push({
        code: 'DEDICATED_SPANS_NUMA_NODES',
        vm: vm.name,
        message:
          `${vm.name}'s vCPUs span NUMA cells ${vm.numaNodes.join(', ')}, as no cell has enough free cores: ` +
          'its memory accesses are partly remote and slower',
      });
    }
    const neighbours = coreNeighbours(host, vm, vcpuOwner, emulatorOwner, reserved);
    if (neighbours.length > 0) {
      warnings.push({
        code: 'DEDICATED_SHARES_CORE',
        vm: vm.name,
        message:
          `${vm.name} shares CPU cores with ${neighbours.join(', ')}, as too few whole cores are free: ` +
          'SMT side channels may leak data between them. Free whole cores or use smt: require-whole-cores',
      });
    }
  }
  return warnings;
}

function memoryWarnings(
  hostMemoryBytes: number,
  hostMemoryReserveBytes: number,
  plannedMemoryBytes: number,
): CpuPlanWarning[] {
  const memoryForVms = hostMemoryBytes - hostMemoryReserveBytes;
  if (plannedMemoryBytes <= memoryForVms) return [];
  return [
    {
      code: 'MEMORY_OVERCOMMITTED',
      vm: null,
      message:
        `the VMs have ${mib(plannedMemoryBytes)} MiB of memory together, more than the ${mib(memoryForVms)} MiB ` +
        `the host has for VMs (${mib(hostMemoryBytes)} MiB less ${mib(hostMemoryReserveBytes)} MiB ` +
        'kept for the host): they cannot all run at once',
    },
  ];
}

function reservedCpusOf(host: HostTopology, requested: readonly number[] | undefined): number[] {
  // The host's default share is the first core, whole: its other thread next to the host would be a
  // VM's window into the host (where the vault's keys live).
  if (requested === undefined) return [...(host.cpus[0]?.siblings ?? [])];
  const online = new Set(host.cpus.map((cpu) => cpu.id));
  const notOnline = requested.filter((cpu) => !online.has(cpu));
  if (notOnline.length > 0) {
    throw new CpuPlanError(
      'CPU_PLAN_REQUEST_INVALID',
      `CPUs ${formatCpuSet(notOnline)} are reserved for the host but are not online CPUs of this host ` +
        `(online: ${formatCpuSet([...online])}). Reserve online CPUs only.`,
    );
  }
  return [...requested].sort((a, b) => a - b);
}

function checkMemoryLimits(request: ValidatedCpuPlanRequest): void {
  const over = request.vms.filter((vm) => vm.memoryBytes > request.roleResources[vm.role].maxMemoryBytes);
  if (over.length === 0) return;
  const details = [...over]
    .sort(byName)
    .map(
      (vm) =>
        `${vm.name} (${vm.role}) asks for ${mib(vm.memoryBytes)} MiB, a ${vm.role} VM may have ` +
        `${mib(request.roleResources[vm.role].maxMemoryBytes)} MiB`,
    );
  throw new CpuPlanError(
    'MEMORY_OVER_ROLE_LIMIT',
    `VMs ask for more memory than their role allows: ${details.join('; ')}. ` +
      "Lower the template's memory, or raise the role's limit (roleResources).",
  );
}

function whyPinningCannotBeKept(
  vm: VmRequest,
  available: ReadonlySet<number>,
  reserved: ReadonlySet<number>,
  vcpuOwner: ReadonlyMap<number, string>,
): string | null {
  const current = vm.currentPinning;
  if (current === undefined) return 'it has no pinning';
  if (current.vcpus.length !== vm.vcpus)
    return `it has ${vm.vcpus} vCPUs now and its pinning is for ${current.vcpus.length}`;
  if (current.vcpus.some((cpus) => cpus.length !== 1)) return 'its vCPUs are not pinned one CPU each';
  const cpus = current.vcpus.map((list) => list[0] ?? -1);
  if (new Set(cpus).size !== cpus.length) return 'two of its vCPUs share a CPU';
  for (const cpu of cpus) {
    if (reserved.has(cpu)) return `CPU ${cpu} is reserved for the host now`;
    if (!available.has(cpu)) return `CPU ${cpu} is not online`;
    const owner = vcpuOwner.get(cpu);
    if (owner !== undefined) return `CPU ${cpu} is kept by ${owner}`;
  }
  return null;
}

/**
 * Host CPUs for a dedicated VM's vCPUs, in vCPU order, or null if none fit. Security before speed:
 * whole cores in one NUMA cell, else whole cores across cells, and only then (if the policy allows)
 * single threads of cores, in one cell, else across cells.
 */
function pickDedicatedCpus(
  host: HostTopology,
  count: number,
  isFree: (cpu: number) => boolean,
  smt: SmtPolicy,
): number[] | null {
  const nodeOf = new Map(host.cpus.map((cpu) => [cpu.id, cpu.node]));
  const cores = coresOf(host).map((cpus) => ({ cpus, node: nodeOf.get(cpus[0] ?? -1) ?? 0 }));
  const wholeCores = cores.filter((core) => core.cpus.every(isFree));
  const partialThreads = cores
    .filter((core) => !core.cpus.every(isFree))
    .flatMap((core) => core.cpus.filter(isFree).map((cpu) => ({ cpu, node: core.node })));
  const threadCount = (list: readonly { cpus: readonly number[] }[]) =>
    list.reduce((sum, core) => sum + core.cpus.length, 0);
  const nodes = nodesOf(host).map((node) => {
    const whole = wholeCores.filter((core) => core.node === node);
    const partial = partialThreads.filter((thread) => thread.node === node).map((thread) => thread.cpu);
    return {
      node,
      whole,
      partial,
      wholeThreads: threadCount(whole),
      freeThreads: threadCount(whole) + partial.length,
    };
  });

  // Best fit: the cell with the fewest free threads that still holds the VM, keeping roomy cells for big VMs.
  const inOneNode = nodes
    .filter((node) => node.wholeThreads >= count)
    .sort((a, b) => a.wholeThreads - b.wholeThreads || a.node - b.node)[0];
  if (inOneNode !== undefined) return takeWholeCores(inOneNode.whole, count);
  const roomiestFirst = [...nodes].sort((a, b) => b.wholeThreads - a.wholeThreads || a.node - b.node);
  if (threadCount(wholeCores) >= count)
    return takeWholeCores(
      roomiestFirst.flatMap((node) => node.whole),
      count,
    );

  if (smt === 'require-whole-cores') return null;
  const threadsInOneNode = nodes
    .filter((node) => node.freeThreads >= count)
    .sort((a, b) => a.freeThreads - b.freeThreads || a.node - b.node)[0];
  if (threadsInOneNode !== undefined)
    return takeThreads(threadsInOneNode.whole, threadsInOneNode.partial, count);
  if (threadCount(wholeCores) + partialThreads.length >= count) {
    return takeThreads(
      roomiestFirst.flatMap((node) => node.whole),
      roomiestFirst.flatMap((node) => node.partial),
      count,
    );
  }
  return null;
}

/**
 * Whole cores holding `count` threads with the fewest spare: full-sized cores the VM fills first, then the
 * smallest core that holds the rest (cores differ in size when a thread is offline).
 */
function takeWholeCores(cores: readonly { cpus: readonly number[] }[], count: number): number[] {
  const picked: number[] = [];
  const unused: { cpus: readonly number[] }[] = [];
  for (const core of [...cores].sort((a, b) => b.cpus.length - a.cpus.length)) {
    if (core.cpus.length <= count - picked.length) picked.push(...core.cpus);
    else unused.push(core);
  }
  const rest = unused.sort((a, b) => a.cpus.length - b.cpus.length)[0];
  if (picked.length < count && rest !== undefined) picked.push(...rest.cpus);
  return picked.slice(0, count);
}

/** Whole cores while the VM fills them, then threads of cores already split, then splits more cores. */
function takeThreads(
  wholeCores: readonly { cpus: readonly number[] }[],
  partialThreads: readonly number[],
  count: number,
): number[] {
  const picked: number[] = [];
  const unused = [];
  for (const core of wholeCores) {
    if (count - picked.length >= core.cpus.length) picked.push(...core.cpus);
    else unused.push(core);
  }
  for (const cpu of [...partialThreads, ...unused.flatMap((core) => core.cpus)]) {
    if (picked.length < count) picked.push(cpu);
  }
  return picked;
}

function siblingsOf(host: HostTopology, cpu: number): readonly number[] {
  return host.cpus.find((candidate) => candidate.id === cpu)?.siblings ?? [];
}

function nodesOfCpus(host: HostTopology, cpus: readonly number[]): number[] {
  const wanted = new Set(cpus);
  return [...new Set(host.cpus.filter((cpu) => wanted.has(cpu.id)).map((cpu) => cpu.node))].sort(
    (a, b) => a - b,
  );
}

/** Who else runs on the cores of a dedicated VM's vCPUs: other VMs by name, or the host. */
function coreNeighbours(
  host: HostTopology,
  vm: PlannedVm,
  vcpuOwner: ReadonlyMap<number, string>,
  emulatorOwner: ReadonlyMap<number, string>,
  reserved: ReadonlySet<number>,
): string[] {
  const neighbours = new Set<string>();
  for (const [cpu] of vm.cpuPinning.vcpus) {
    for (const sibling of siblingsOf(host, cpu ?? -1)) {
      const owner = vcpuOwner.get(sibling) ?? emulatorOwner.get(sibling);
      if (owner !== undefined && owner !== vm.name) neighbours.add(`${owner} (CPU ${sibling})`);
      if (reserved.has(sibling)) neighbours.add(`the host (CPU ${sibling})`);
    }
  }
  return [...neighbours].sort();
}

function useOf(
  cpu: number,
  vms: readonly PlannedVm[],
  reserved: ReadonlySet<number>,
  emulatorOwner: ReadonlyMap<number, string>,
): HostCpuUse {
  if (reserved.has(cpu)) return { kind: 'host' };
  for (const vm of vms) {
    if (vm.placement === 'shared') continue;
    const vcpu = vm.cpuPinning.vcpus.findIndex((cpus) => cpus[0] === cpu);
    if (vcpu !== -1) return { kind: 'vcpu', vm: vm.name, vcpu };
  }
  const owner = emulatorOwner.get(cpu);
  return owner === undefined ? { kind: 'shared' } : { kind: 'emulator', vm: owner };
}

function overcommitted(
  dedicated: readonly VmRequest[],
  onlineCpus: readonly number[],
  reservedCpus: readonly number[],
  available: ReadonlySet<number>,
  smt: SmtPolicy,
  unplaced: readonly VmRequest[],
): CpuPlanError {
  const asked = dedicated.reduce((sum, vm) => sum + vm.vcpus, 0);
  const asks = dedicated.map((vm) => `${vm.name} ${vm.vcpus} vCPU${vm.vcpus === 1 ? '' : 's'}`).join(', ');
  const free = available.size === 0 ? 'none' : formatCpuSet([...available]);
  const isFree = `${available.size} ${available.size === 1 ? 'is' : 'are'}`;
  const hostPart =
    `online CPUs ${formatCpuSet(onlineCpus)}, reserved for the host ` +
    `${reservedCpus.length === 0 ? 'none' : formatCpuSet(reservedCpus)}, free for dedicated VMs ${free}`;
  const problem =
    unplaced.length === 0
      ? `the dedicated VMs ask for ${asked} host CPUs but only ${isFree} free`
      : `with smt: require-whole-cores, ${unplaced.map((vm) => vm.name).join(', ')} find no whole cores ` +
        `left (the dedicated VMs ask for ${asked} host CPUs, ${isFree} free)`;
  const remedies = [
    'make a VM shared (pinning: shared)',
    'give a VM fewer vCPUs',
    'remove a dedicated VM',
    'reserve fewer CPUs for the host',
    ...(smt === 'require-whole-cores' ? ['allow single SMT threads (smt: prefer-whole-cores)'] : []),
  ];
  return new CpuPlanError(
    'DEDICATED_CPUS_OVERCOMMITTED',
    `dedicated CPUs overcommitted: ${problem} (${hostPart}). Asking: ${asks}. ` +
      `To fix: ${remedies.join(', or ')}.`,
  );
}

function mib(bytes: number): number {
  return Math.floor(bytes / (1024 * 1024));
}
