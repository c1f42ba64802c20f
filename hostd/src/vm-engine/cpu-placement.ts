import type { LibvirtClient } from '@multiverse/libvirt-ts';
import type { VmMetadata } from '@multiverse/vm-templates';
import { CpuPlanError, planCpus, readHostTopology } from '../cpu-plan/index.js';
import type { CpuPlan, CpuPlanVmRequest, PlannedVm, VmPinning } from '../cpu-plan/index.js';
import { libvirtFailure } from '../service/libvirt-access.js';
import { ServiceError } from '../service/service-error.js';

/** A VM as the planner sees it: what its domain has now, not what its template says today. */
export interface PlacedVm {
  readonly name: string;
  readonly metadata: VmMetadata;
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly currentPinning: VmPinning | undefined;
}

function requestOf(vm: PlacedVm): CpuPlanVmRequest {
  return {
    name: vm.name,
    role: vm.metadata.role,
    vcpus: vm.vcpus,
    pinning: vm.metadata.pinning,
    memoryBytes: vm.memoryBytes,
    ...(vm.currentPinning === undefined ? {} : { currentPinning: vm.currentPinning }),
  };
}

/**
 * Plans every defined Multiverse VM (stopped ones keep their CPUs, so starting them never moves another
 * VM) plus `candidate`, the VM being created or started. A plan that cannot be made — dedicated CPUs
 * overcommitted — is refused with the planner's own explanation.
 */
export async function planPlacement(
  client: LibvirtClient,
  vms: readonly PlacedVm[],
  candidate?: CpuPlanVmRequest,
): Promise<CpuPlan> {
  let topology;
  try {
    topology = await readHostTopology(client);
  } catch (error) {
    if (error instanceof CpuPlanError) throw cpuPlanRefused(error);
    throw libvirtFailure('reading the host CPU topology', error);
  }
  const requests = vms.filter((vm) => vm.name !== candidate?.name).map(requestOf);
  try {
    return planCpus(topology, { vms: candidate === undefined ? requests : [...requests, candidate] });
  } catch (error) {
    if (error instanceof CpuPlanError) throw cpuPlanRefused(error);
    throw error;
  }
}

export function plannedVm(plan: CpuPlan, name: string): PlannedVm {
  const planned = plan.vms.find((vm) => vm.name === name);
  if (planned === undefined) throw new Error(`the CPU plan has no VM ${name}`);
  return planned;
}

function cpuPlanRefused(error: CpuPlanError): ServiceError {
  return new ServiceError(
    'conflict',
    error.code,
    `the CPU plan does not work out: ${error.message}`,
    'make room (delete a dedicated VM, or use a template with `pinning: shared` or fewer vCPUs), then retry; `mvctl host cpus` shows the current plan',
    { cause: error },
  );
}
