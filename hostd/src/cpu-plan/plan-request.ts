import { z } from 'zod';
import { PINNING_CLASSES, TEMPLATE_LIMITS, VM_NAME_RULE, VM_ROLES, isVmName } from '@multiverse/vm-templates';
import type { VmRole, VmTemplate } from '@multiverse/vm-templates';
import { CpuPlanError } from './cpu-plan-error.js';
import { MAX_CPU_ID } from './cpu-set-parser.js';
import { CPU_SHARES_LIMITS, DEFAULT_ROLE_RESOURCES } from './role-resources.js';
import type { RoleResources } from './role-resources.js';

/**
 * How a dedicated VM may use SMT threads. `prefer-whole-cores` gives a VM whole cores while there are
 * any and otherwise single threads (with a warning); `require-whole-cores` refuses the plan instead.
 */
export const SMT_POLICIES = ['prefer-whole-cores', 'require-whole-cores'] as const;
export type SmtPolicy = (typeof SMT_POLICIES)[number];

/** Kept for the host when the request reserves nothing: host memory the VMs may not plan to use. */
export const DEFAULT_HOST_MEMORY_RESERVE_BYTES = 1024 * 1024 * 1024;
const MAX_VMS = 1024;

const cpuId = z
  .number({ error: `a host CPU number from 0 to ${MAX_CPU_ID}` })
  .int({ error: `a host CPU number from 0 to ${MAX_CPU_ID}` })
  .min(0, { error: `a host CPU number from 0 to ${MAX_CPU_ID}` })
  .max(MAX_CPU_ID, { error: `a host CPU number from 0 to ${MAX_CPU_ID}` });
const cpuList = z.array(cpuId, { error: 'a list of host CPU numbers' }).min(1, { error: 'a non-empty list' });

const pinningSchema = z.strictObject({
  vcpus: z.array(cpuList, { error: 'a list with one host CPU list per vCPU' }),
  emulator: cpuList,
});

const vmSchema = z.strictObject({
  name: z.string({ error: VM_NAME_RULE }).refine(isVmName, { error: VM_NAME_RULE }),
  role: z.enum(VM_ROLES, { error: `one of ${VM_ROLES.join(', ')}` }),
  vcpus: z
    .number({ error: 'a whole number of vCPUs' })
    .int({ error: 'a whole number of vCPUs' })
    .min(TEMPLATE_LIMITS.vcpus.min, { error: `from ${TEMPLATE_LIMITS.vcpus.min} vCPU` })
    .max(TEMPLATE_LIMITS.vcpus.max, { error: `at most ${TEMPLATE_LIMITS.vcpus.max} vCPUs` }),
  pinning: z.enum(PINNING_CLASSES, { error: `one of ${PINNING_CLASSES.join(', ')}` }),
  memoryBytes: z
    .number({ error: 'a whole number of bytes' })
    .int({ error: 'a whole number of bytes' })
    .min(TEMPLATE_LIMITS.memoryBytes.min, { error: `at least ${TEMPLATE_LIMITS.memoryBytes.min} bytes` })
    .max(TEMPLATE_LIMITS.memoryBytes.max, { error: `at most ${TEMPLATE_LIMITS.memoryBytes.max} bytes` }),
  /** The pinning the VM has now (from its domain XML): a dedicated VM keeps it when it still fits. */
  currentPinning: pinningSchema.optional(),
});

const roleResourcesSchema = z.strictObject({
  cpuShares: z
    .number({ error: 'a whole number' })
    .int({ error: 'a whole number' })
    .min(CPU_SHARES_LIMITS.min, { error: `from ${CPU_SHARES_LIMITS.min}` })
    .max(CPU_SHARES_LIMITS.max, { error: `at most ${CPU_SHARES_LIMITS.max}` }),
  maxMemoryBytes: z
    .number({ error: 'a whole number of bytes' })
    .int({ error: 'a whole number of bytes' })
    .min(TEMPLATE_LIMITS.memoryBytes.min, { error: `at least ${TEMPLATE_LIMITS.memoryBytes.min} bytes` }),
});

const requestSchema = z.strictObject({
  vms: z
    .array(vmSchema, { error: 'a list of VMs' })
    .max(MAX_VMS, { error: `at most ${MAX_VMS} VMs` })
    .superRefine((vms, context) => {
      const seen = new Set<string>();
      vms.forEach((vm, index) => {
        if (seen.has(vm.name))
          context.addIssue({
            code: 'custom',
            path: [index, 'name'],
            message: `a name of its own (${vm.name} is listed twice)`,
          });
        seen.add(vm.name);
      });
    }),
  /** Host CPUs no VM's vCPU may have. Absent: the first online core (all its threads). */
  reservedHostCpus: z
    .array(cpuId, { error: 'a list of host CPU numbers' })
    .refine((cpus) => new Set(cpus).size === cpus.length, { error: 'a list without repeats' })
    .optional(),
  smt: z.enum(SMT_POLICIES, { error: `one of ${SMT_POLICIES.join(', ')}` }).default('prefer-whole-cores'),
  /** Host memory kept out of the VMs' sum; exceeding it is a warning (stopped VMs use none). */
  hostMemoryReserveBytes: z
    .number({ error: 'a whole number of bytes' })
    .int({ error: 'a whole number of bytes' })
    .min(0, { error: 'zero or more bytes' })
    .default(DEFAULT_HOST_MEMORY_RESERVE_BYTES),
  /** Overrides of the role table, role by role. */
  roleResources: z.partialRecord(z.enum(VM_ROLES), roleResourcesSchema).default({}),
});

/** The request as a caller writes it; defaults are filled in by the planner. */
export type CpuPlanRequest = z.input<typeof requestSchema>;
export type CpuPlanVmRequest = z.input<typeof vmSchema>;
export type VmPinning = z.output<typeof pinningSchema>;

export interface ValidatedCpuPlanRequest {
  readonly vms: readonly z.output<typeof vmSchema>[];
  readonly reservedHostCpus?: readonly number[];
  readonly smt: SmtPolicy;
  readonly hostMemoryReserveBytes: number;
  readonly roleResources: Readonly<Record<VmRole, RoleResources>>;
}

export function validateCpuPlanRequest(request: unknown): ValidatedCpuPlanRequest {
  const parsed = requestSchema.safeParse(request);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.length === 0 ? 'request' : issue.path.join('.')}: must be ${issue.message}`,
    );
    throw new CpuPlanError(
      'CPU_PLAN_REQUEST_INVALID',
      `the CPU plan request is not valid: ${problems.join('; ')}. Fix these fields and plan again.`,
    );
  }
  const { roleResources, ...rest } = parsed.data;
  return { ...rest, roleResources: { ...DEFAULT_ROLE_RESOURCES, ...roleResources } };
}

/** The planner's view of a VM made from a template, with the pinning its domain XML has now, if any. */
export function cpuPlanVmOf(
  name: string,
  template: VmTemplate,
  currentPinning?: VmPinning,
): CpuPlanVmRequest {
  return {
    name,
    role: template.role,
    vcpus: template.vcpus,
    pinning: template.pinning,
    memoryBytes: template.memoryBytes,
    ...(currentPinning === undefined ? {} : { currentPinning }),
  };
}
