import type { VmRole } from '@multiverse/vm-templates';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** What a VM of one role gets against the others: CPU weight and the most memory it may have. */
export interface RoleResources {
  /** libvirt's `<cputune><shares>`: relative CPU weight when VMs compete for the same CPUs. */
  readonly cpuShares: number;
  /** A VM of this role asking for more memory is refused. */
  readonly maxMemoryBytes: number;
}

/**
 * The default table, in `hostd/README.md` too. Shares only matter between VMs competing for the shared
 * pool (a dedicated vCPU has its CPU alone), so they rank how much waiting each role tolerates:
 * - controller: the owner's way in must stay responsive when app VMs are busy;
 * - router: every VM behind it waits on its packets, so it outranks them;
 * - app, disposable: the baseline user work;
 * - fallback: a rescue console, needs little but must not starve;
 * - utility: background jobs such as image builds, which may take longer.
 * Memory caps stop a mistyped template from taking the host: no role's guest legitimately needs more,
 * and memory is never overcommitted (the domain XML has no balloon to take it back).
 */
export const DEFAULT_ROLE_RESOURCES: Readonly<Record<VmRole, RoleResources>> = {
  controller: { cpuShares: 2048, maxMemoryBytes: 8 * GIB },
  router: { cpuShares: 2048, maxMemoryBytes: 2 * GIB },
  app: { cpuShares: 1024, maxMemoryBytes: 64 * GIB },
  disposable: { cpuShares: 1024, maxMemoryBytes: 16 * GIB },
  fallback: { cpuShares: 512, maxMemoryBytes: 1 * GIB },
  utility: { cpuShares: 256, maxMemoryBytes: 16 * GIB },
};

/** libvirt accepts shares from 2 to 262144. */
export const CPU_SHARES_LIMITS = { min: 2, max: 262144 } as const;
