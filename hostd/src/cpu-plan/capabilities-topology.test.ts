import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseHostTopology } from './capabilities-topology.js';
import { CpuPlanError } from './cpu-plan-error.js';
import { topologyArbitrary } from './testing/arbitraries.js';
import { capabilitiesXmlOf, cpuMapOf } from './testing/synthetic-topology.js';

const GIB = 1024 * 1024 * 1024;

/** Shaped like `virsh capabilities` on a 4-thread, 2-core laptop whose CPU 3 was taken offline. */
const LAPTOP_CAPABILITIES = `<capabilities>
  <host>
    <uuid>1b7f3c2e-8a4d-4e0f-9c61-2d5b7a9e4f10</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>Skylake-Client-IBRS</model>
      <topology sockets='1' dies='1' clusters='1' cores='2' threads='2'/>
    </cpu>
    <power_management><suspend_mem/></power_management>
    <topology>
      <cells num='1'>
        <cell id='0'>
          <memory unit='KiB'>16318584</memory>
          <pages unit='KiB' size='4'>4079646</pages>
          <distances><sibling id='0' value='10'/></distances>
          <cpus num='4'>
            <cpu id='0' socket_id='0' die_id='0' cluster_id='65535' core_id='0' siblings='0,2'/>
            <cpu id='1' socket_id='0' die_id='0' cluster_id='65535' core_id='1' siblings='1,3'/>
            <cpu id='2' socket_id='0' die_id='0' cluster_id='65535' core_id='0' siblings='0,2'/>
            <cpu id='3'/>
          </cpus>
        </cell>
      </cells>
    </topology>
    <cache><bank id='0' level='3' type='both' size='8' unit='MiB' cpus='0-3'/></cache>
  </host>
  <guest><os_type>hvm</os_type><arch name='x86_64'><wordsize>64</wordsize></arch></guest>
</capabilities>
`;

function refusal(includes: string) {
  return (error: unknown) => {
    assert.ok(error instanceof CpuPlanError);
    assert.equal(error.code, 'HOST_TOPOLOGY_INVALID');
    assert.ok(error.message.includes(includes), `"${includes}" in: ${error.message}`);
    return true;
  };
}

describe('parseHostTopology', () => {
  it('reads cells, sockets and online siblings, and leaves offline CPUs out', () => {
    const topology = parseHostTopology(LAPTOP_CAPABILITIES, { online: [true, true, true, false] }, 16 * GIB);
    assert.deepEqual(topology, {
      cpus: [
        { id: 0, node: 0, socket: 0, siblings: [0, 2] },
        { id: 1, node: 0, socket: 0, siblings: [1] },
        { id: 2, node: 0, socket: 0, siblings: [0, 2] },
      ],
      offlineCpus: [3],
      memoryBytes: 16 * GIB,
    });
  });

  it('reads back every topology it is given as libvirt would describe it', () => {
    fc.assert(
      fc.property(topologyArbitrary, (topology) => {
        assert.deepEqual(
          parseHostTopology(capabilitiesXmlOf(topology), cpuMapOf(topology), topology.memoryBytes),
          topology,
        );
      }),
    );
  });

  it('refuses XML that is not well-formed', () => {
    assert.throws(
      () => parseHostTopology('<capabilities><host>', { online: [true] }, GIB),
      refusal('the capabilities XML is malformed'),
    );
  });

  it('refuses capabilities without a topology', () => {
    assert.throws(
      () =>
        parseHostTopology(
          '<capabilities><host><uuid>x</uuid></host></capabilities>',
          { online: [true] },
          GIB,
        ),
      refusal('<host> has no <topology>'),
    );
  });

  it('refuses an online CPU the topology does not describe', () => {
    assert.throws(
      () => parseHostTopology(LAPTOP_CAPABILITIES, { online: [true, true, true, false, true] }, GIB),
      refusal('online CPUs 4 are missing from the capabilities topology'),
    );
  });

  it('refuses CPUs that disagree about their core', () => {
    const disagreeing = LAPTOP_CAPABILITIES.replace(
      "core_id='1' siblings='1,3'",
      "core_id='1' siblings='1,2'",
    );
    assert.throws(
      () => parseHostTopology(disagreeing, { online: [true, true, true, false] }, GIB),
      refusal('disagree about the core they share'),
    );
  });

  it('refuses an online CPU without siblings', () => {
    assert.throws(
      () => parseHostTopology(LAPTOP_CAPABILITIES, { online: [true, true, true, true] }, GIB),
      refusal('online CPU 3 has no siblings attribute'),
    );
  });
});
