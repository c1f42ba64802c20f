import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CpuPlan, PlannedVm } from './cpu-plan.js';
import { CpuPlanError } from './cpu-plan-error.js';
import type { CpuPlanRequest } from './plan-request.js';
import { planCpus } from './planner.js';
import type { HostTopology } from './host-topology.js';
import { planInputArbitrary, vmArbitrary } from './testing/arbitraries.js';

/** The plan, or null when the planner refused it for one of the reasons it may refuse a valid request. */
function planOrRefusal(topology: HostTopology, request: CpuPlanRequest): CpuPlan | null {
  try {
    return planCpus(topology, request);
  } catch (error) {
    if (!(error instanceof CpuPlanError)) throw error;
    const dedicated = request.vms.filter((vm) => vm.pinning === 'dedicated');
    const reserved = request.reservedHostCpus ?? topology.cpus[0]?.siblings ?? [];
    const free = topology.cpus.length - reserved.length;
    const asked = dedicated.reduce((sum, vm) => sum + vm.vcpus, 0);
    if (error.code === 'DEDICATED_CPUS_OVERCOMMITTED') {
      // Without the whole-core rule, any request that fits by count is planned.
      if (request.smt !== 'require-whole-cores') assert.ok(asked > free, error.message);
      return null;
    }
    if (error.code === 'NO_CPU_FOR_SHARED_WORK') {
      assert.equal(reserved.length, 0, error.message);
      return null;
    }
    throw error;
  }
}

function checkInvariants(topology: HostTopology, request: CpuPlanRequest, plan: CpuPlan): void {
  const online = new Set(topology.cpus.map((cpu) => cpu.id));
  const reserved = new Set(plan.host.reservedCpus);
  const dedicatedOwner = new Map<number, string>();
  for (const vm of plan.vms.filter((entry) => entry.pinning === 'dedicated')) {
    const vcpuCpus = vm.cpuPinning.vcpus.map((cpus) => {
      assert.equal(cpus.length, 1, `${vm.name}: each vCPU pinned to one CPU`);
      return cpus[0] ?? -1;
    });
    assert.equal(vcpuCpus.length, request.vms.find((entry) => entry.name === vm.name)?.vcpus);
    assert.equal(new Set(vcpuCpus).size, vcpuCpus.length, `${vm.name}: vCPUs on distinct CPUs`);
    for (const cpu of vcpuCpus) assert.ok(vm.dedicatedCpus.includes(cpu));
    for (const cpu of vm.dedicatedCpus) {
      assert.ok(online.has(cpu), `${vm.name}: CPU ${cpu} online`);
      assert.ok(!reserved.has(cpu), `${vm.name}: CPU ${cpu} is reserved for the host`);
      const other = dedicatedOwner.get(cpu);
      assert.equal(other, undefined, `CPU ${cpu} given to ${vm.name} and ${other ?? ''}`);
      dedicatedOwner.set(cpu, vm.name);
    }
    // vm-templates' model refuses emulator threads on the VM's own vCPU CPUs.
    assert.ok(!vm.cpuPinning.emulator.some((cpu) => vcpuCpus.includes(cpu)), `${vm.name}: emulator apart`);
  }
  for (const vm of plan.vms) {
    const emulatorIsOwn = vm.cpuPinning.emulator.every((cpu) => dedicatedOwner.get(cpu) === vm.name);
    const sharedCpus = [
      ...(vm.pinning === 'shared' ? vm.cpuPinning.vcpus.flat() : []),
      ...(emulatorIsOwn ? [] : vm.cpuPinning.emulator),
    ];
    for (const cpu of sharedCpus) {
      assert.equal(dedicatedOwner.get(cpu), undefined, `${vm.name}: shared work on dedicated CPU ${cpu}`);
      assert.ok(plan.host.sharedPool.includes(cpu));
    }
  }
  if (!plan.host.sharedPoolOnReservedCpus) {
    assert.ok(!plan.host.sharedPool.some((cpu) => reserved.has(cpu)), 'shared pool apart from the host');
  }
  for (const cpu of plan.cpus) {
    if (cpu.use.kind === 'vcpu') assert.equal(dedicatedOwner.get(cpu.id), cpu.use.vm);
    if (cpu.use.kind === 'host') assert.ok(reserved.has(cpu.id));
  }
}

describe('planCpus properties', () => {
  it('never gives a host CPU to two dedicated VMs, never hands out reserved CPUs, pins every dedicated vCPU', () => {
    fc.assert(
      fc.property(planInputArbitrary, ({ topology, request }) => {
        const plan = planOrRefusal(topology, request);
        if (plan !== null) checkInvariants(topology, request, plan);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves every dedicated VM on its CPUs when a VM is added', () => {
    fc.assert(
      fc.property(planInputArbitrary, vmArbitrary('newcomer'), ({ topology, request }, newcomer) => {
        const before = planOrRefusal(topology, request);
        if (before === null) return;
        const vms = request.vms.map((vm) => {
          const planned = before.vms.find((entry) => entry.name === vm.name);
          if (planned === undefined || planned.pinning === 'shared') return vm;
          const { vcpus, emulator } = planned.cpuPinning;
          return {
            ...vm,
            currentPinning: { vcpus: vcpus.map((cpus) => [...cpus]), emulator: [...emulator] },
          };
        });
        const after = planOrRefusal(topology, { ...request, vms: [...vms, newcomer] });
        if (after === null) return;
        checkInvariants(topology, { ...request, vms: [...vms, newcomer] }, after);
        for (const vm of before.vms.filter((entry) => entry.pinning === 'dedicated')) {
          const again: PlannedVm | undefined = after.vms.find((entry) => entry.name === vm.name);
          assert.deepEqual(again?.cpuPinning.vcpus, vm.cpuPinning.vcpus, `${vm.name} moved`);
          assert.equal(again?.placement, 'kept');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('gives the same plan for the same VMs in any order', () => {
    fc.assert(
      fc.property(planInputArbitrary, fc.nat(), ({ topology, request }, rotation) => {
        const shift = request.vms.length === 0 ? 0 : rotation % request.vms.length;
        const reordered = [...request.vms.slice(shift), ...request.vms.slice(0, shift)].reverse();
        const plan = planOrRefusal(topology, request);
        if (plan === null) return;
        assert.deepEqual(planCpus(topology, { ...request, vms: reordered }), plan);
      }),
      { numRuns: 200 },
    );
  });
});
