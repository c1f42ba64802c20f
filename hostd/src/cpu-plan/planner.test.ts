import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuPlan, PlannedVm } from './cpu-plan.js';
import { CpuPlanError } from './cpu-plan-error.js';
import type { CpuPlanVmRequest } from './plan-request.js';
import { planCpus } from './planner.js';
import { GIB, syntheticTopology } from './testing/synthetic-topology.js';

const MIB = 1024 * 1024;

function vm(
  name: string,
  vcpus: number,
  pinning: 'dedicated' | 'shared',
  more: Partial<CpuPlanVmRequest> = {},
): CpuPlanVmRequest {
  return { name, role: 'app', vcpus, pinning, memoryBytes: 512 * MIB, ...more };
}

function planned(plan: CpuPlan, name: string): PlannedVm {
  const found = plan.vms.find((candidate) => candidate.name === name);
  assert.ok(found, `${name} is in the plan`);
  return found;
}

function refusal(code: string, includes: readonly string[]) {
  return (error: unknown) => {
    assert.ok(error instanceof CpuPlanError, `a CpuPlanError, got ${String(error)}`);
    assert.equal(error.code, code);
    for (const text of includes) assert.ok(error.message.includes(text), `"${text}" in: ${error.message}`);
    return true;
  };
}

/** 1 socket, 2 cores, no SMT: this build machine. */
const twoCores = syntheticTopology({ sockets: 1, coresPerSocket: 2, threadsPerCore: 1 });
/** 2 sockets of 8 cores with SMT, a NUMA cell per socket: CPU c and c+16 are one core; cores 0-7 on cell 0. */
const twoSocketsSmt = syntheticTopology({ sockets: 2, coresPerSocket: 8, threadsPerCore: 2 });

describe('planCpus on one socket with two cores and no SMT (this build machine)', () => {
  it('keeps CPU 0 for the host, dedicates CPU 1, and runs shared work on the host CPU it has left', () => {
    const plan = planCpus(twoCores, {
      vms: [
        vm('vault', 1, 'dedicated'),
        vm('app-1', 2, 'shared'),
        vm('sys-tor', 1, 'shared', { role: 'router' }),
      ],
    });
    assert.deepEqual(plan.host.reservedCpus, [0]);
    assert.deepEqual(planned(plan, 'vault').cpuPinning, { vcpus: [[1]], emulator: [0] });
    assert.deepEqual(planned(plan, 'vault').dedicatedCpus, [1]);
    assert.deepEqual(planned(plan, 'app-1').cpuPinning, { vcpus: [[0], [0]], emulator: [0] });
    assert.deepEqual(planned(plan, 'sys-tor').cpuPinning, { vcpus: [[0]], emulator: [0] });
    assert.equal(planned(plan, 'sys-tor').cpuShares, 2048);
    assert.equal(planned(plan, 'app-1').cpuShares, 1024);
    assert.deepEqual(plan.host.sharedPool, [0]);
    assert.equal(plan.host.sharedPoolOnReservedCpus, true);
    assert.deepEqual(
      plan.warnings.map((warning) => warning.code),
      ['SHARED_POOL_ON_HOST_CPUS'],
    );
    assert.deepEqual(
      plan.cpus.map((cpu) => cpu.use),
      [{ kind: 'host' }, { kind: 'vcpu', vm: 'vault', vcpu: 0 }],
    );
    assert.deepEqual(
      plan.vms.map((entry) => entry.name),
      ['app-1', 'sys-tor', 'vault'],
    );
  });

  it('refuses a second dedicated VM, naming both, what they ask, what is free and what to do', () => {
    assert.throws(
      () => planCpus(twoCores, { vms: [vm('vault', 1, 'dedicated'), vm('web', 1, 'dedicated')] }),
      refusal('DEDICATED_CPUS_OVERCOMMITTED', [
        'ask for 2 host CPUs but only 1 is free',
        'reserved for the host 0',
        'free for dedicated VMs 1',
        'vault 1 vCPU',
        'web 1 vCPU',
        'make a VM shared (pinning: shared)',
        'reserve fewer CPUs for the host',
      ]),
    );
  });

  it('with nothing reserved, dedicates CPU 0 and shares CPU 1', () => {
    const plan = planCpus(twoCores, {
      vms: [vm('vault', 1, 'dedicated'), vm('app-1', 1, 'shared')],
      reservedHostCpus: [],
    });
    assert.deepEqual(planned(plan, 'vault').cpuPinning, { vcpus: [[0]], emulator: [1] });
    assert.deepEqual(planned(plan, 'app-1').cpuPinning, { vcpus: [[1]], emulator: [1] });
    assert.deepEqual(plan.warnings, []);
  });

  it('refuses to dedicate every CPU when emulator threads would have nowhere to run', () => {
    assert.throws(
      () =>
        planCpus(twoCores, {
          vms: [vm('vault', 1, 'dedicated'), vm('web', 1, 'dedicated')],
          reservedHostCpus: [],
        }),
      refusal('NO_CPU_FOR_SHARED_WORK', ['every online CPU (0-1) is dedicated', 'Reserve a host CPU']),
    );
  });
});

describe('planCpus on two sockets of eight cores with SMT and a NUMA cell per socket', () => {
  it('reserves the first core, both threads, by default', () => {
    assert.deepEqual(planCpus(twoSocketsSmt, { vms: [] }).host.reservedCpus, [0, 16]);
  });

  it('gives each dedicated VM whole cores in one cell, a spare thread to its own emulator threads', () => {
    const plan = planCpus(twoSocketsSmt, {
      vms: [
        vm('db', 4, 'dedicated'),
        vm('vault', 1, 'dedicated'),
        vm('web', 3, 'dedicated'),
        vm('app-1', 2, 'shared'),
      ],
    });
    // Biggest first, best-fitting cell first: cell 0 has 14 free threads against cell 1's 16.
    assert.deepEqual(planned(plan, 'db').cpuPinning.vcpus, [[1], [17], [2], [18]]);
    assert.deepEqual(planned(plan, 'web').cpuPinning.vcpus, [[3], [19], [4]]);
    assert.deepEqual(planned(plan, 'web').cpuPinning.emulator, [20]);
    assert.deepEqual(planned(plan, 'vault').cpuPinning, { vcpus: [[5]], emulator: [21] });
    assert.deepEqual(planned(plan, 'vault').dedicatedCpus, [5, 21]);
    const pool = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31];
    assert.deepEqual(plan.host.sharedPool, pool);
    assert.deepEqual(planned(plan, 'db').cpuPinning.emulator, pool);
    assert.deepEqual(planned(plan, 'app-1').cpuPinning, { vcpus: [pool, pool], emulator: pool });
    for (const name of ['db', 'web', 'vault']) assert.deepEqual(planned(plan, name).numaNodes, [0]);
    assert.deepEqual(planned(plan, 'app-1').numaNodes, [0, 1]);
    assert.deepEqual(plan.warnings, []);
  });

  it('puts a VM that only fits the roomier cell there', () => {
    const plan = planCpus(twoSocketsSmt, { vms: [vm('big', 16, 'dedicated')] });
    const big = planned(plan, 'big');
    assert.deepEqual(big.numaNodes, [1]);
    assert.deepEqual(big.cpuPinning.vcpus.slice(0, 4), [[8], [24], [9], [25]]);
    assert.deepEqual(plan.warnings, []);
  });

  it('spans cells only when no cell has enough whole cores, and says so', () => {
    const plan = planCpus(twoSocketsSmt, { vms: [vm('huge', 20, 'dedicated')] });
    assert.deepEqual(planned(plan, 'huge').numaNodes, [0, 1]);
    assert.deepEqual(
      plan.warnings.map((warning) => [warning.code, warning.vm]),
      [['DEDICATED_SPANS_NUMA_NODES', 'huge']],
    );
  });

  it('splits a core between two VMs only when whole cores run out, and warns about both', () => {
    const plan = planCpus(twoSocketsSmt, { vms: [vm('big', 29, 'dedicated'), vm('small', 1, 'dedicated')] });
    assert.ok(planned(plan, 'big').cpuPinning.vcpus.flat().includes(7));
    assert.deepEqual(planned(plan, 'small').cpuPinning.vcpus, [[23]]);
    const shareWarnings = plan.warnings.filter((warning) => warning.code === 'DEDICATED_SHARES_CORE');
    assert.deepEqual(
      shareWarnings.map((warning) => warning.vm),
      ['big', 'small'],
    );
    assert.ok(shareWarnings[1]?.message.includes('big (CPU 7)'));
  });

  it('refuses the split with smt: require-whole-cores', () => {
    assert.throws(
      () =>
        planCpus(twoSocketsSmt, {
          vms: [vm('big', 29, 'dedicated'), vm('small', 1, 'dedicated')],
          smt: 'require-whole-cores',
        }),
      refusal('DEDICATED_CPUS_OVERCOMMITTED', [
        'small find no whole cores left',
        'allow single SMT threads (smt: prefer-whole-cores)',
      ]),
    );
  });

  it('refuses one vCPU more than the free CPUs', () => {
    assert.throws(
      () => planCpus(twoSocketsSmt, { vms: [vm('big', 29, 'dedicated'), vm('web', 2, 'dedicated')] }),
      refusal('DEDICATED_CPUS_OVERCOMMITTED', [
        'ask for 31 host CPUs but only 30 are free',
        'reserved for the host 0,16',
        'free for dedicated VMs 1-15,17-31',
        'big 29 vCPUs, web 2 vCPUs',
      ]),
    );
  });

  it('never plans offline CPUs', () => {
    const topology = syntheticTopology({
      sockets: 1,
      coresPerSocket: 4,
      threadsPerCore: 2,
      offlineCpus: [5],
    });
    const plan = planCpus(topology, { vms: [vm('a', 2, 'dedicated'), vm('b', 1, 'dedicated')] });
    assert.deepEqual(plan.host.offlineCpus, [5]);
    // Core 1 lost its second thread (CPU 5): a one-thread core, just right for the 1-vCPU VM.
    assert.deepEqual(planned(plan, 'a').cpuPinning.vcpus, [[2], [6]]);
    assert.deepEqual(planned(plan, 'b').cpuPinning, { vcpus: [[1]], emulator: [3, 7] });
    assert.ok(!plan.cpus.some((cpu) => cpu.id === 5));
  });
});

describe('planCpus keeps dedicated VMs where they are', () => {
  const first = planCpus(twoSocketsSmt, { vms: [vm('web', 3, 'dedicated'), vm('db', 4, 'dedicated')] });
  const current = (name: string) => {
    const { vcpus, emulator } = planned(first, name).cpuPinning;
    return { vcpus: vcpus.map((cpus) => [...cpus]), emulator: [...emulator] };
  };

  it('leaves running VMs on their CPUs when a VM is added, even one that sorts first', () => {
    const vms = [
      vm('web', 3, 'dedicated', { currentPinning: current('web') }),
      vm('db', 4, 'dedicated', { currentPinning: current('db') }),
      vm('aaa', 4, 'dedicated'),
    ];
    const second = planCpus(twoSocketsSmt, { vms });
    for (const name of ['web', 'db']) {
      assert.deepEqual(planned(second, name).cpuPinning.vcpus, planned(first, name).cpuPinning.vcpus);
      assert.deepEqual(planned(second, name).dedicatedCpus, planned(first, name).dedicatedCpus);
      assert.equal(planned(second, name).placement, 'kept');
    }
    assert.equal(planned(second, 'aaa').placement, 'placed');
    assert.deepEqual(planned(second, 'aaa').cpuPinning.vcpus, [[5], [21], [6], [22]]);
    // Without their current pinning, the newcomer would have taken db's cores: the test means something.
    const fresh = planCpus(twoSocketsSmt, { vms: vms.map(({ currentPinning: _, ...rest }) => rest) });
    assert.notDeepEqual(planned(fresh, 'db').cpuPinning.vcpus, planned(first, 'db').cpuPinning.vcpus);
  });

  it('moves a VM whose CPU is now reserved for the host, and says why', () => {
    const second = planCpus(twoSocketsSmt, {
      vms: [vm('web', 3, 'dedicated', { currentPinning: current('web') })],
      reservedHostCpus: [0, 16, 3, 19],
    });
    assert.equal(planned(second, 'web').placement, 'placed');
    assert.ok(!planned(second, 'web').dedicatedCpus.some((cpu) => [0, 16, 3, 19].includes(cpu)));
    assert.deepEqual(second.warnings, [
      {
        code: 'PINNING_MOVED',
        vm: 'web',
        message:
          'web cannot keep its CPUs (CPU 3 is reserved for the host now) and is placed again; restart it to apply',
      },
    ]);
  });

  it('moves a VM whose vCPU count changed', () => {
    const second = planCpus(twoSocketsSmt, {
      vms: [vm('web', 2, 'dedicated', { currentPinning: current('web') })],
    });
    assert.equal(planned(second, 'web').placement, 'placed');
    assert.match(second.warnings[0]?.message ?? '', /it has 2 vCPUs now and its pinning is for 3/);
  });

  it('gives the CPU to one of two VMs claiming it, by name, and moves the other', () => {
    const second = planCpus(twoSocketsSmt, {
      vms: [
        vm('web', 3, 'dedicated', { currentPinning: current('web') }),
        vm('copy', 3, 'dedicated', { currentPinning: current('web') }),
      ],
    });
    assert.equal(planned(second, 'copy').placement, 'kept');
    assert.equal(planned(second, 'web').placement, 'placed');
    assert.match(second.warnings[0]?.message ?? '', /CPU 3 is kept by copy/);
  });

  it('gives the same plan whatever order the VMs come in', () => {
    const vms = [
      vm('web', 3, 'dedicated'),
      vm('db', 4, 'dedicated'),
      vm('app-1', 2, 'shared'),
      vm('vault', 1, 'dedicated'),
    ];
    assert.deepEqual(planCpus(twoSocketsSmt, { vms }), planCpus(twoSocketsSmt, { vms: [...vms].reverse() }));
  });
});

describe('planCpus per role', () => {
  it('takes CPU shares from the role table, overridable role by role', () => {
    const plan = planCpus(twoCores, {
      vms: [
        vm('ctl', 1, 'shared', { role: 'controller' }),
        vm('job', 1, 'shared', { role: 'utility' }),
        vm('rescue', 1, 'shared', { role: 'fallback', memoryBytes: 256 * MIB }),
      ],
      roleResources: { utility: { cpuShares: 100, maxMemoryBytes: 4 * GIB } },
    });
    assert.deepEqual(
      plan.vms.map((entry) => [entry.name, entry.cpuShares]),
      [
        ['ctl', 2048],
        ['job', 100],
        ['rescue', 512],
      ],
    );
  });

  it("refuses VMs with more memory than their role allows, naming each and the role's limit", () => {
    assert.throws(
      () =>
        planCpus(twoCores, {
          vms: [
            vm('sys-tor', 1, 'shared', { role: 'router', memoryBytes: 4 * GIB }),
            vm('rescue', 1, 'shared', { role: 'fallback', memoryBytes: 2 * GIB }),
          ],
        }),
      refusal('MEMORY_OVER_ROLE_LIMIT', [
        'rescue (fallback) asks for 2048 MiB, a fallback VM may have 1024 MiB',
        'sys-tor (router) asks for 4096 MiB, a router VM may have 2048 MiB',
        'raise the role',
      ]),
    );
  });

  it('warns when the VMs together have more memory than the host has for them', () => {
    const topology = syntheticTopology({
      sockets: 1,
      coresPerSocket: 2,
      threadsPerCore: 1,
      memoryBytes: 4 * GIB,
    });
    const plan = planCpus(topology, {
      vms: [vm('a', 1, 'shared', { memoryBytes: 2 * GIB }), vm('b', 1, 'shared', { memoryBytes: 2 * GIB })],
    });
    assert.equal(plan.host.plannedMemoryBytes, 4 * GIB);
    assert.deepEqual(plan.warnings, [
      {
        code: 'MEMORY_OVERCOMMITTED',
        vm: null,
        message:
          'the VMs have 4096 MiB of memory together, more than the 3072 MiB the host has for VMs ' +
          '(4096 MiB less 1024 MiB kept for the host): they cannot all run at once',
      },
    ]);
  });
});

describe('planCpus checks its request', () => {
  const cases: [string, unknown, string][] = [
    [
      'a VM listed twice',
      { vms: [vm('web', 1, 'shared'), vm('web', 2, 'shared')] },
      'vms.1.name: must be a name of its own (web is listed twice)',
    ],
    ['zero vCPUs', { vms: [vm('web', 0, 'shared')] }, 'vms.0.vcpus: must be from 1 vCPU'],
    [
      'an unknown role',
      { vms: [{ ...vm('web', 1, 'shared'), role: 'admin' }] },
      'vms.0.role: must be one of controller',
    ],
    ['an unknown field', { vms: [], reserve: [0] }, 'request: must be'],
    [
      'a bad SMT policy',
      { vms: [], smt: 'never' },
      'smt: must be one of prefer-whole-cores, require-whole-cores',
    ],
  ];
  for (const [what, request, expected] of cases) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => planCpus(twoCores, request as never),
        refusal('CPU_PLAN_REQUEST_INVALID', [expected]),
      );
    });
  }

  it('refuses to reserve a CPU the host does not have online', () => {
    assert.throws(
      () => planCpus(twoCores, { vms: [], reservedHostCpus: [0, 7] }),
      refusal('CPU_PLAN_REQUEST_INVALID', [
        'CPUs 7 are reserved for the host but are not online',
        'online: 0-1',
      ]),
    );
  });
});
