import type { PinningClass, VmRole } from '@multiverse/vm-templates';
import type { SmtPolicy } from './plan-request.js';

/** What one online host CPU is used for in a plan. */
export type HostCpuUse =
  /** Reserved for the host: no VM's vCPU runs here (shared work only when the shared pool is empty). */
  | { readonly kind: 'host' }
  /** Runs one vCPU of a dedicated VM, and nothing else. */
  | { readonly kind: 'vcpu'; readonly vm: string; readonly vcpu: number }
  /** The free SMT sibling of a dedicated VM's vCPU, kept by that VM for its own emulator threads. */
  | { readonly kind: 'emulator'; readonly vm: string }
  /** The shared pool: shared VMs and the emulator threads of dedicated VMs without a sibling of their own. */
  | { readonly kind: 'shared' };

export interface PlannedHostCpu {
  readonly id: number;
  readonly node: number;
  readonly socket: number;
  readonly siblings: readonly number[];
  readonly use: HostCpuUse;
}

/** The pinning fields of vm-templates' instance facts, as the domain XML generator expects them. */
export interface CpuPinning {
  /** Host CPUs per vCPU (index = vCPU). */
  readonly vcpus: readonly (readonly number[])[];
  /** Host CPUs of QEMU's emulator threads. */
  readonly emulator: readonly number[];
}

export interface PlannedVm {
  readonly name: string;
  readonly role: VmRole;
  readonly pinning: PinningClass;
  readonly vcpus: number;
  /** `kept`: a dedicated VM that keeps the CPUs it had; `placed`: a dedicated VM given CPUs now. */
  readonly placement: 'kept' | 'placed' | 'shared';
  /** Pass as `cpuPinning` in the VM's instance facts. */
  readonly cpuPinning: CpuPinning;
  /** Pass as `cpuShares`. */
  readonly cpuShares: number;
  /** Pass as `memoryBytes`. */
  readonly memoryBytes: number;
  /** CPUs this VM has alone (its vCPUs' and its own emulator threads'); empty for shared VMs. */
  readonly dedicatedCpus: readonly number[];
  /** NUMA cells of the VM's vCPUs. */
  readonly numaNodes: readonly number[];
}

export type CpuPlanWarningCode =
  /** A dedicated VM's vCPU shares a core with another VM or the host (SMT side channels). */
  | 'DEDICATED_SHARES_CORE'
  /** A dedicated VM's vCPUs span NUMA cells. */
  | 'DEDICATED_SPANS_NUMA_NODES'
  /** Every non-reserved CPU is dedicated: shared work runs on the host's reserved CPUs. */
  | 'SHARED_POOL_ON_HOST_CPUS'
  /** A dedicated VM could not keep its current CPUs and was placed again. */
  | 'PINNING_MOVED'
  /** The VMs' memory adds up to more than the host has to give. */
  | 'MEMORY_OVERCOMMITTED';

export interface CpuPlanWarning {
  readonly code: CpuPlanWarningCode;
  /** The VM the warning is about, or null when it concerns the host. */
  readonly vm: string | null;
  readonly message: string;
}

export interface CpuPlan {
  readonly host: {
    readonly onlineCpus: readonly number[];
    readonly offlineCpus: readonly number[];
    readonly reservedCpus: readonly number[];
    /** Where shared VMs and shared emulator threads run. */
    readonly sharedPool: readonly number[];
    /** True when the shared pool is the reserved CPUs, because nothing else was left. */
    readonly sharedPoolOnReservedCpus: boolean;
    readonly smt: SmtPolicy;
    readonly memoryBytes: number;
    readonly hostMemoryReserveBytes: number;
    /** The sum of every planned VM's memory. */
    readonly plannedMemoryBytes: number;
  };
  /** Every online CPU, ascending. */
  readonly cpus: readonly PlannedHostCpu[];
  /** Every VM of the request, ordered by name. */
  readonly vms: readonly PlannedVm[];
  readonly warnings: readonly CpuPlanWarning[];
}
