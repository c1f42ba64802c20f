import { formatCpuSet } from '@multiverse/vm-templates/cpu-set';
import type { CpuPlan, HostCpuUse, PlannedVm } from './cpu-plan.js';

/** The JSON form of a plan (`mvctl host cpus --json`): the plan itself, with a version for scripts. */
export interface CpuPlanJson extends CpuPlan {
  readonly version: 1;
}

export interface RenderedCpuPlan {
  /** Human tables: the host summary, one row per host CPU, one row per VM, then the warnings. */
  readonly text: string;
  readonly json: CpuPlanJson;
}

/** What `mvctl host cpus` prints. */
export function renderCpuPlan(plan: CpuPlan): RenderedCpuPlan {
  return { text: cpuPlanText(plan), json: { version: 1, ...plan } };
}

function cpuPlanText(plan: CpuPlan): string {
  const { host } = plan;
  const cpuSet = (cpus: readonly number[]) => (cpus.length === 0 ? 'none' : formatCpuSet(cpus));
  const summary = [
    `host CPUs: ${cpuSet(host.onlineCpus)} online` +
      (host.offlineCpus.length > 0 ? `, ${cpuSet(host.offlineCpus)} offline` : ''),
    `reserved for the host: ${cpuSet(host.reservedCpus)}`,
    `shared pool: ${cpuSet(host.sharedPool)}${host.sharedPoolOnReservedCpus ? ' (the reserved CPUs: none left)' : ''}`,
    `SMT policy: ${host.smt}`,
    `memory: ${mib(host.plannedMemoryBytes)} MiB planned for VMs of ${mib(host.memoryBytes)} MiB ` +
      `(${mib(host.hostMemoryReserveBytes)} MiB kept for the host)`,
  ];
  const cpuTable = columns(
    ['CPU', 'NODE', 'SOCKET', 'CORE', 'USE'],
    plan.cpus.map((cpu) => [
      String(cpu.id),
      String(cpu.node),
      String(cpu.socket),
      formatCpuSet(cpu.siblings),
      describeUse(cpu.use),
    ]),
  );
  const vmTable =
    plan.vms.length === 0
      ? ['no VMs planned']
      : columns(
          [
            'VM',
            'ROLE',
            'CLASS',
            'VCPUS',
            'HOST CPU PER VCPU',
            'EMULATOR',
            'NUMA',
            'SHARES',
            'MEMORY',
            'PLACEMENT',
          ],
          plan.vms.map((vm) => [
            vm.name,
            vm.role,
            vm.pinning,
            String(vm.vcpus),
            vcpuPins(vm),
            formatCpuSet(vm.cpuPinning.emulator),
            vm.numaNodes.join(',') || '-',
            String(vm.cpuShares),
            `${mib(vm.memoryBytes)} MiB`,
            vm.placement,
          ]),
        );
  const warnings = plan.warnings.map((warning) => `warning ${warning.code}: ${warning.message}`);
  return [...summary, '', ...cpuTable, '', ...vmTable, ...(warnings.length > 0 ? ['', ...warnings] : [])]
    .join('\n')
    .concat('\n');
}

function describeUse(use: HostCpuUse): string {
  switch (use.kind) {
    case 'host':
      return 'host (reserved)';
    case 'vcpu':
      return `${use.vm} vCPU ${use.vcpu}`;
    case 'emulator':
      return `${use.vm} emulator`;
    case 'shared':
      return 'shared pool';
  }
}

/** Dedicated: the host CPU of each vCPU in vCPU order ("1 5"); shared: the pool every vCPU floats on. */
function vcpuPins(vm: PlannedVm): string {
  if (vm.placement !== 'shared') return vm.cpuPinning.vcpus.map((cpus) => formatCpuSet(cpus)).join(' ');
  return `any of ${formatCpuSet(vm.cpuPinning.vcpus[0] ?? [])}`;
}

function columns(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, index) =>
    Math.max(title.length, ...rows.map((row) => (row[index] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, index) => (index === cells.length - 1 ? cell : cell.padEnd(widths[index] ?? 0)))
      .join('  ');
  return [line(header), ...rows.map(line)];
}

function mib(bytes: number): number {
  return Math.floor(bytes / (1024 * 1024));
}
