/** Test support: fast-check generators of host topologies and plan requests. */
import fc from 'fast-check';
import { PINNING_CLASSES, VM_ROLES } from '@multiverse/vm-templates';
import type { HostTopology } from '../host-topology.js';
import type { CpuPlanRequest, CpuPlanVmRequest } from '../plan-request.js';
import { SMT_POLICIES } from '../plan-request.js';
import { syntheticTopology } from './synthetic-topology.js';

const MIB = 1024 * 1024;

/** Up to 2 sockets × 8 cores × 2 threads, 1 or 2 NUMA cells per socket, some CPUs offline. */
export const topologyArbitrary: fc.Arbitrary<HostTopology> = fc
  .record({
    sockets: fc.integer({ min: 1, max: 2 }),
    coresPerSocket: fc.integer({ min: 1, max: 8 }),
    threadsPerCore: fc.integer({ min: 1, max: 2 }),
    nodesPerSocket: fc.integer({ min: 1, max: 2 }),
  })
  .chain((shape) => {
    const total = shape.sockets * shape.coresPerSocket * shape.threadsPerCore;
    const ids = Array.from({ length: total }, (_, cpu) => cpu);
    return fc
      .subarray(ids, { maxLength: total - 1 })
      .map((offlineCpus) => syntheticTopology({ ...shape, offlineCpus }));
  });

export const vmArbitrary = (name: string): fc.Arbitrary<CpuPlanVmRequest> =>
  fc.record({
    name: fc.constant(name),
    role: fc.constantFrom(...VM_ROLES),
    vcpus: fc.integer({ min: 1, max: 3 }),
    pinning: fc.constantFrom(...PINNING_CLASSES),
    memoryBytes: fc.constant(256 * MIB),
  });

/** A topology and a request for it: 0 to 6 VMs named vm-0…, reserved CPUs by default or a subset of the online ones. */
export const planInputArbitrary: fc.Arbitrary<{ topology: HostTopology; request: CpuPlanRequest }> =
  topologyArbitrary.chain((topology) =>
    fc.record({
      topology: fc.constant(topology),
      request: fc.record({
        vms: fc
          .integer({ min: 0, max: 6 })
          .chain((count) =>
            fc.tuple(...Array.from({ length: count }, (_, index) => vmArbitrary(`vm-${index}`))),
          ),
        reservedHostCpus: fc.option(
          fc.subarray(
            topology.cpus.map((cpu) => cpu.id),
            { maxLength: Math.min(3, topology.cpus.length) },
          ),
          { nil: undefined },
        ),
        smt: fc.constantFrom(...SMT_POLICIES),
      }),
    }),
  );
