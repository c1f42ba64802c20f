import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planCpus } from './planner.js';
import { renderCpuPlan } from './render-plan.js';
import { syntheticTopology } from './testing/synthetic-topology.js';

const MIB = 1024 * 1024;

describe('renderCpuPlan', () => {
  const topology = syntheticTopology({ sockets: 1, coresPerSocket: 4, threadsPerCore: 2, offlineCpus: [7] });
  const plan = planCpus(topology, {
    vms: [
      { name: 'vault', role: 'app', vcpus: 1, pinning: 'dedicated', memoryBytes: 512 * MIB },
      { name: 'web', role: 'app', vcpus: 2, pinning: 'dedicated', memoryBytes: 1024 * MIB },
      { name: 'sys-tor', role: 'router', vcpus: 1, pinning: 'shared', memoryBytes: 256 * MIB },
    ],
  });

  it('prints the host, every CPU and every VM as aligned tables', () => {
    assert.equal(
      renderCpuPlan(plan).text,
      [
        'host CPUs: 0-6 online, 7 offline',
        'reserved for the host: 0,4',
        'shared pool: 2,6',
        'SMT policy: prefer-whole-cores',
        'memory: 1792 MiB planned for VMs of 65536 MiB (1024 MiB kept for the host)',
        '',
        'CPU  NODE  SOCKET  CORE  USE',
        '0    0     0       0,4   host (reserved)',
        '1    0     0       1,5   web vCPU 0',
        '2    0     0       2,6   shared pool',
        '3    0     0       3     vault vCPU 0',
        '4    0     0       0,4   host (reserved)',
        '5    0     0       1,5   web vCPU 1',
        '6    0     0       2,6   shared pool',
        '',
        'VM       ROLE    CLASS      VCPUS  HOST CPU PER VCPU  EMULATOR  NUMA  SHARES  MEMORY    PLACEMENT',
        'sys-tor  router  shared     1      any of 2,6         2,6       0     2048    256 MiB   shared',
        'vault    app     dedicated  1      3                  2,6       0     1024    512 MiB   placed',
        'web      app     dedicated  2      1 5                2,6       0     1024    1024 MiB  placed',
        '',
      ].join('\n'),
    );
  });

  it('lists warnings after the tables', () => {
    const crowded = planCpus(topology, {
      vms: [{ name: 'web', role: 'app', vcpus: 6, pinning: 'dedicated', memoryBytes: 1024 * MIB }],
      reservedHostCpus: [0],
    });
    const lines = renderCpuPlan(crowded).text.trimEnd().split('\n');
    assert.match(lines.at(-2) ?? '', /^warning SHARED_POOL_ON_HOST_CPUS: no CPU is left for the shared pool/);
    assert.match(
      lines.at(-1) ?? '',
      /^warning DEDICATED_SHARES_CORE: web shares CPU cores with the host \(CPU 0\), /,
    );
  });

  it('gives the plan itself as JSON, versioned, surviving a round trip', () => {
    const { json } = renderCpuPlan(plan);
    assert.equal(json.version, 1);
    assert.deepEqual(JSON.parse(JSON.stringify(json)), { version: 1, ...plan });
  });
});
