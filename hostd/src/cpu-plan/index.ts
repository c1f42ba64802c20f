export { readHostTopology, parseHostTopology } from './capabilities-topology.js';
export { CpuPlanError } from './cpu-plan-error.js';
export type { CpuPlanErrorCode } from './cpu-plan-error.js';
export type {
  CpuPinning,
  CpuPlan,
  CpuPlanWarning,
  CpuPlanWarningCode,
  HostCpuUse,
  PlannedHostCpu,
  PlannedVm,
} from './cpu-plan.js';
export { MAX_CPU_ID, parseCpuSet } from './cpu-set-parser.js';
export { hostTopology } from './host-topology.js';
export type { HostCpu, HostTopology } from './host-topology.js';
export { DEFAULT_HOST_MEMORY_RESERVE_BYTES, SMT_POLICIES, cpuPlanVmOf } from './plan-request.js';
export type { CpuPlanRequest, CpuPlanVmRequest, SmtPolicy, VmPinning } from './plan-request.js';
export { planCpus } from './planner.js';
export { renderCpuPlan } from './render-plan.js';
export type { CpuPlanJson, RenderedCpuPlan } from './render-plan.js';
export { CPU_SHARES_LIMITS, DEFAULT_ROLE_RESOURCES } from './role-resources.js';
export type { RoleResources } from './role-resources.js';
