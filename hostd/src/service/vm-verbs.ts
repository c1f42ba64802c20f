import type { Duplex } from 'node:stream';
import { ErrorNumber, LibvirtError } from '@multiverse/libvirt-ts';
import type { Domain, LibvirtClient } from '@multiverse/libvirt-ts';
import {
  DomainXmlError,
  RESERVED_VM_NAMES,
  VM_NAME_RULE,
  isVmName,
  readVmMetadata,
} from '@multiverse/vm-templates';
import { z } from 'zod';
import { libvirtFailure, requireLibvirt } from './libvirt-access.js';
import type { Checkpoint } from '../disks/index.js';
import type { TaskRecord } from '../tasks/index.js';
import type { CreatedVm, DisposableRun, VmEngine, VmInfo } from '../vm-engine/index.js';
import { defineVerb } from './verb.js';

/** Long enough for a Debian guest to run its shutdown; a tiny guest ignores ACPI and is cut off after it. */
const DEFAULT_STOP_TIMEOUT_SECONDS = 30;
const DEFAULT_COMMAND_TIMEOUT_SECONDS = 300;

const vmName = z.string().refine(isVmName, {
  message: `a VM name: ${VM_NAME_RULE}; not ${RESERVED_VM_NAMES.map((word) => `"${word}"`).join(', ')} (they mean something else where a router is named)`,
});
/** Template names follow the VM name rule (a template's name is also its guests' hostname). */
const templateName = z.string().refine(isVmName, { message: `a template name: ${VM_NAME_RULE}` });
const checkpointId = z
  .string()
  .regex(/^[0-9a-f]{16}$/, { message: 'a checkpoint id: 16 lowercase hex digits' });
const checkpointMessage = z
  .string()
  .max(1000)
  // eslint-disable-next-line no-control-regex
  .refine((text) => !/[\u0000-\u001f\u007f]/.test(text), {
    message: 'one line of text without control characters',
  });

export interface VmSummary {
  readonly name: string;
  readonly uuid: string;
  /** libvirt's state, e.g. `running`, `shutoff`, and why (`booted`, `destroyed`…). */
  readonly state: string;
  readonly stateReason: string;
  readonly vcpus: number;
  readonly memoryBytes: number;
  /** Whether this hostd manages the VM (false: defined outside Multiverse, or by another hostd). */
  readonly managed: boolean;
  readonly role: string | null;
  readonly template: string | null;
  /** Set when the domain has Multiverse metadata that does not follow the schema. */
  readonly metadataProblem: string | null;
}

/** A domain undefined between listing and asking about it is simply no longer there. */
function isGone(error: unknown): boolean {
  return error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_DOMAIN;
}

async function describeVm(client: LibvirtClient, domain: Domain, vms: VmEngine): Promise<VmSummary | null> {
  try {
    const [state, info, xml] = await Promise.all([
      client.domainGetState(domain),
      client.domainGetInfo(domain),
      client.domainGetXmlDesc(domain),
    ]);
    let metadata = null;
    let metadataProblem: string | null = null;
    try {
      metadata = readVmMetadata(xml);
    } catch (error) {
      if (!(error instanceof DomainXmlError)) throw error;
      metadataProblem = error.message;
    }
    return {
      name: domain.name,
      uuid: domain.uuid,
      state: state.stateName,
      stateReason: state.reasonName,
      vcpus: info.virtualCpus,
      memoryBytes: Number(info.maxMemoryKiB) * 1024,
      managed: metadata !== null && vms.owns(metadata),
      role: metadata?.role ?? null,
      template: metadata?.template ?? null,
      metadataProblem,
    };
  } catch (error) {
    if (isGone(error)) return null;
    throw libvirtFailure(`reading domain ${domain.name}`, error);
  }
}

export const vmVerbs = {
  'vm.list': defineVerb({
    summary: 'every VM libvirt knows, with its state, and role and template for Multiverse VMs',
    input: z.strictObject({}),
    target: () => 'host',
    async run({ host, vms: engine }): Promise<{ vms: VmSummary[] }> {
      const client = requireLibvirt(host);
      let domains: Domain[];
      try {
        domains = await client.listAllDomains();
      } catch (error) {
        throw libvirtFailure('listing domains', error);
      }
      const vms = await Promise.all(domains.map((domain) => describeVm(client, domain, engine)));
      return {
        vms: vms.filter((vm): vm is VmSummary => vm !== null).sort((a, b) => a.name.localeCompare(b.name)),
      };
    },
  }),
  'vm.create': defineVerb({
    summary: 'define a VM from a template (shut off until started); builds its image on first use',
    input: z.strictObject({ name: vmName, template: templateName, encrypted: z.boolean().optional() }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<CreatedVm> =>
      vms.create(input.name, input.template, input.encrypted === true ? { encrypted: true } : {}),
  }),
  'vm.start': defineVerb({
    summary: 'start a VM and wait for its guest to report ready, as a task',
    input: z.strictObject({ name: vmName }),
    target: (input) => input.name,
    run: async ({ vms, tasks, actor }, input): Promise<{ task: TaskRecord }> => ({
      task: await vms.startAsTask(tasks, input.name, actor),
    }),
  }),
  'vm.stop': defineVerb({
    summary: 'ask a VM to power off (ACPI) and cut it off if it has not within the timeout',
    input: z.strictObject({
      name: vmName,
      timeoutSeconds: z.number().int().min(0).max(3600).default(DEFAULT_STOP_TIMEOUT_SECONDS),
    }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<{ name: string; forced: boolean }> =>
      vms.stop(input.name, input.timeoutSeconds),
  }),
  'vm.run': defineVerb({
    summary:
      'start a disposable VM from a disposable template (preloaded when the pool has one); with a command, run it on the console, then stop the VM, which deletes it',
    input: z.strictObject({
      template: templateName,
      command: z.array(z.string().max(4096)).min(1).max(256).optional(),
      timeoutSeconds: z.number().int().min(1).max(86_400).default(DEFAULT_COMMAND_TIMEOUT_SECONDS),
    }),
    target: (input) => input.template,
    run: ({ disposables, actor }, input): Promise<DisposableRun> =>
      disposables.run(input.template, input.command, {
        requestedBy: actor,
        timeoutSeconds: input.timeoutSeconds,
      }),
  }),
  'vm.console': defineVerb({
    summary: "attach a running VM's serial console (a byte stream; `force` takes it from another holder)",
    transport: 'stream',
    input: z.strictObject({ name: vmName, force: z.boolean().default(false) }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<Duplex> => vms.openConsole(input.name, { force: input.force }),
  }),
  'vm.kill': defineVerb({
    summary: 'cut a running VM off at once (virsh destroy), for a hung guest',
    input: z.strictObject({ name: vmName }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<{ name: string }> => vms.kill(input.name),
  }),
  'vm.info': defineVerb({
    summary: 'one VM in full: state, template, image, disks, networks, CPU pinning, checkpoints',
    input: z.strictObject({ name: vmName }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<VmInfo> => vms.info(input.name),
  }),
  'vm.delete': defineVerb({
    summary: 'remove a stopped VM',
    input: z.strictObject({ name: vmName }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<{ name: string }> => vms.delete(input.name),
  }),
  'vm.checkpoint': defineVerb({
    summary:
      'freeze the private volume as a checkpoint and go on in a new layer (live for a running VM), as a task',
    input: z.strictObject({
      name: vmName,
      message: checkpointMessage.optional(),
      pinned: z.boolean().optional(),
      /** Keep at most this many unpinned checkpoints (the oldest are merged away). */
      keep: z.number().int().min(1).max(1000).optional(),
    }),
    target: (input) => input.name,
    run: async ({ vms, tasks, actor }, input): Promise<{ task: TaskRecord }> => ({
      task: await vms.changeCheckpointsAsTask(tasks, 'vm.checkpoint', input.name, actor, (disks, live) =>
        disks.checkpoint(
          input.name,
          {
            ...(input.message === undefined ? {} : { message: input.message }),
            ...(input.pinned === undefined ? {} : { pinned: input.pinned }),
            ...(input.keep === undefined ? {} : { keep: input.keep }),
            ...(live === null ? {} : { live: true }),
          },
          live ?? undefined,
        ),
      ),
    }),
  }),
  'vm.checkpoints': defineVerb({
    summary: "a VM's checkpoints, oldest first: id, time, message, size, pinned",
    input: z.strictObject({ name: vmName }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<{ name: string; checkpoints: Checkpoint[] }> =>
      vms.listCheckpoints(input.name),
  }),
  'vm.revert': defineVerb({
    summary:
      'return the private volume to a checkpoint, dropping the layers above it (a running VM is stopped, reverted and started again), as a task',
    input: z.strictObject({ name: vmName, id: checkpointId }),
    target: (input) => input.name,
    run: async ({ vms, tasks, actor }, input): Promise<{ task: TaskRecord }> => ({
      task: await vms.changeCheckpointsAsTask(tasks, 'vm.revert', input.name, actor, async (disks) => {
        await disks.revert(input.name, input.id);
        return { name: input.name, revertedTo: input.id };
      }),
    }),
  }),
  'vm.checkpoint-pin': defineVerb({
    summary: 'pin a checkpoint so pruning never merges it away, or unpin it (also while the VM runs)',
    input: z.strictObject({ name: vmName, id: checkpointId, pinned: z.boolean().default(true) }),
    target: (input) => input.name,
    run: ({ vms }, input): Promise<{ name: string; id: string; pinned: boolean }> =>
      vms.setCheckpointPinned(input.name, input.id, input.pinned),
  }),
  'vm.checkpoint-delete': defineVerb({
    summary: 'merge a checkpoint away without changing the others (by QEMU while the VM runs), as a task',
    input: z.strictObject({ name: vmName, id: checkpointId }),
    target: (input) => input.name,
    run: async ({ vms, tasks, actor }, input): Promise<{ task: TaskRecord }> => ({
      task: await vms.changeCheckpointsAsTask(
        tasks,
        'vm.checkpoint-delete',
        input.name,
        actor,
        async (disks, _live, liveMerge) => {
          await disks.deleteCheckpoint(input.name, input.id, liveMerge ?? undefined);
          return { name: input.name, deleted: input.id };
        },
      ),
    }),
  }),
};
