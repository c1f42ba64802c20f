import { z } from 'zod';
import type { AcceleratorDecision } from '../accelerator-probe.js';
import { renderCpuPlan } from '../cpu-plan/index.js';
import type { CpuPlanJson } from '../cpu-plan/index.js';
import { defineVerb } from './verb.js';
import { libvirtFailure } from './libvirt-access.js';

export interface HostInfo {
  readonly hostname: string | null;
  readonly hostd: { readonly pid: number; readonly startedAt: string };
  readonly libvirt: {
    readonly uri: string;
    readonly connected: boolean;
    readonly libvirtVersion: string | null;
    readonly hypervisorVersion: string | null;
  };
  /** null while hostd is still deciding (the KVM probe boots a guest). */
  readonly accelerator: AcceleratorDecision | null;
  /** null while libvirtd is not connected. */
  readonly node: {
    readonly cpuModel: string;
    readonly cpus: number;
    readonly mhz: number;
    readonly numaNodes: number;
    readonly sockets: number;
    readonly coresPerSocket: number;
    readonly threadsPerCore: number;
    readonly memoryBytes: number;
  } | null;
}

export const hostVerbs = {
  'host.info': defineVerb({
    summary: 'hostd, libvirt and QEMU versions, the accelerator in use and why, CPUs and memory',
    input: z.strictObject({}),
    target: () => 'host',
    async run({ host }): Promise<HostInfo> {
      const status = host.status();
      const client = host.libvirt();
      let node: HostInfo['node'] = null;
      if (client !== undefined) {
        try {
          const info = await client.nodeGetInfo();
          node = {
            cpuModel: info.model,
            cpus: info.cpus,
            mhz: info.mhz,
            numaNodes: info.nodes,
            sockets: info.sockets,
            coresPerSocket: info.cores,
            threadsPerCore: info.threads,
            memoryBytes: Number(info.memoryKiB) * 1024,
          };
        } catch (error) {
          throw libvirtFailure('reading the node info', error);
        }
      }
      return {
        hostname: status.hostname ?? null,
        hostd: { pid: status.pid, startedAt: status.startedAt },
        libvirt: {
          uri: status.libvirtUri,
          connected: client !== undefined,
          libvirtVersion: status.libvirtVersion ?? null,
          hypervisorVersion: status.hypervisorVersion ?? null,
        },
        accelerator: status.accelerator ?? null,
        node,
      };
    },
  }),
  'host.cpus': defineVerb({
    summary: 'the CPU plan: which host CPUs each VM runs on (dedicated or shared), reserved CPUs, memory',
    input: z.strictObject({}),
    target: () => 'host',
    async run({ vms }): Promise<CpuPlanJson> {
      return renderCpuPlan(await vms.cpuPlan()).json;
    },
  }),
};
