/**
 * Every failure of the CPU planner is a CpuPlanError with a stable `code` and a message that says what
 * failed and what to do next.
 */
export type CpuPlanErrorCode =
  /** The host's CPU topology could not be read or does not make sense (capabilities XML, CPU map). */
  | 'HOST_TOPOLOGY_INVALID'
  /** A cpuset string is not libvirt's syntax ("0-3,^2,8"). */
  | 'CPU_SET_INVALID'
  /** The request (VMs, options) is malformed: unknown role, duplicate VM name, reserved CPU not online, ... */
  | 'CPU_PLAN_REQUEST_INVALID'
  /** The dedicated VMs ask for more host CPUs than are free. */
  | 'DEDICATED_CPUS_OVERCOMMITTED'
  /** Shared VMs or emulator threads need a CPU, but every online CPU is dedicated and none is reserved. */
  | 'NO_CPU_FOR_SHARED_WORK'
  /** A VM asks for more memory than its role allows. */
  | 'MEMORY_OVER_ROLE_LIMIT';

export class CpuPlanError extends Error {
  override readonly name = 'CpuPlanError';

  constructor(
    readonly code: CpuPlanErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
