import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DomainCreateFlags, ErrorNumber, LibvirtError } from '@multiverse/libvirt-ts';
import type { Domain, LibvirtClient, LibvirtStream } from '@multiverse/libvirt-ts';
import {
  DomainXmlError,
  ImageError,
  TemplateError,
  buildVmModel,
  generateDomainXml,
  loadTemplateDirectory,
  readVmMetadata,
  verifyImage,
} from '@multiverse/vm-templates';
import type { ReadyAnnouncement, VerifiedImage, VmMetadata, VmTemplate } from '@multiverse/vm-templates';
import type { Checkpoint, CheckpointRecord, DiskStore, StartDisks } from '../disks/index.js';
import type { Logger } from '../log.js';
import { libvirtFailure, requireLibvirt } from '../service/libvirt-access.js';
import { ServiceError } from '../service/service-error.js';
import type { HostFacts } from '../service/verb.js';
import type { AuditActor } from '../audit/index.js';
import type { TaskContext, TaskManager, TaskRecord } from '../tasks/index.js';
import { diskFailure } from './disk-failure.js';
import { ensureGuestImage } from './guest-image.js';
import { ReadyWaitError, waitForReadyLine } from './ready-watch.js';

export interface VmEngineOptions {
  readonly host: HostFacts;
  /** Where guest images are built and kept (`<stateDir>/images`). */
  readonly imagesDirectory: string;
  /** The templates VMs are created from (vm-templates' shipped directory). */
  readonly templatesDirectory: string;
  /** The VMs' private and volatile volumes. */
  readonly disks: DiskStore;
  readonly logger: Logger;
}

export interface CreatedVm {
  readonly name: string;
  readonly uuid: string;
  readonly role: string;
  readonly template: string;
  readonly image: string;
}

export interface StartedVm {
  readonly name: string;
  readonly bootId: string;
  /** The guest's own uptime when it announced READY. */
  readonly guestUptimeSeconds: number;
  /** From the start call to the READY line, as hostd measured it. */
  readonly readyAfterSeconds: number;
}

/** The verbs that change a stopped VM's checkpoints; each runs as a task on the VM, so never beside a start. */
export type CheckpointChangeKind = 'vm.checkpoint' | 'vm.revert' | 'vm.checkpoint-delete';

/** A Multiverse VM as libvirt holds it: the domain and the metadata hostd wrote into it. */
interface ManagedVm {
  readonly domain: Domain;
  readonly metadata: VmMetadata;
}

/**
 * Creates, starts, stops and deletes Multiverse VMs. libvirt is the only record: a VM is a defined domain
 * with Multiverse metadata, and every call reads the current state from libvirt before acting.
 */
export class VmEngine {
  constructor(private readonly options: VmEngineOptions) {}

  /** Defines the VM in libvirt from a template; it stays shut off until started. */
  async create(name: string, templateName: string): Promise<CreatedVm> {
    const template = await this.loadTemplate(templateName);
    if (template.diskBytes.root !== null) {
      // A root volume overlays a qcow2 base image; the tiny image is a kernel + initramfs, and the disk-boot
      // Debian image has no builder yet.
      throw new ServiceError(
        'conflict',
        'TEMPLATE_VOLUMES_UNSUPPORTED',
        `template ${template.name} declares a root volume, which needs a disk image that hostd cannot build yet`,
        'create VMs from a template with private and volatile volumes only (or none), such as fallback',
      );
    }
    const domainType = this.domainType();
    const client = requireLibvirt(this.options.host);
    if ((await this.lookup(client, name)) !== undefined) {
      throw new ServiceError(
        'conflict',
        'VM_EXISTS',
        `a VM named ${name} already exists`,
        'choose another name, or delete the existing VM first (`mvctl vm delete NAME`)',
      );
    }
    const image = await ensureGuestImage(this.options.imagesDirectory, template);
    const uuid = randomUUID();
    const hasVolumes = declaresVolumes(template);
    let disks: StartDisks = { root: null, private: null, volatile: null };
    if (hasVolumes) {
      try {
        await this.options.disks.createVm(name, {
          base: null,
          privateSizeBytes: template.diskBytes.private,
          volatileSizeBytes: template.diskBytes.volatile,
        });
        disks = await this.options.disks.diskPaths(name);
      } catch (error) {
        throw diskFailure(`making the disks of VM ${name}`, error);
      }
    }
    try {
      await this.define(client, { name, uuid, template, image, domainType, disks, checkpoints: [] });
    } catch (error) {
      // Disks without a domain would block the name; nothing was written to them yet.
      if (hasVolumes) await this.deleteDisksQuietly(name);
      throw error;
    }
    this.options.logger.info('VM created', { vm: name, template: template.name, uuid, domainType });
    return {
      name,
      uuid,
      role: template.role,
      template: template.name,
      image: `${image.manifest.name}@${image.manifest.id}`,
    };
  }

  /**
   * Records a task that starts the VM (see `start`) and returns it queued or running. A start that cannot
   * work (no such VM, already running) is refused here, before a task is recorded.
   */
  async startAsTask(tasks: TaskManager, name: string, requestedBy: AuditActor): Promise<TaskRecord> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (await this.isActive(client, vm.domain)) throw alreadyRunning(name);
    const { task, done } = tasks.start({ kind: 'vm.start', target: name, requestedBy }, (context) =>
      this.start(name, context),
    );
    // The task's record holds how the start ended; `done` rejects only when recording that failed.
    done.catch((error: unknown) => {
      this.options.logger.error('recording the end of a VM start failed', {
        vm: name,
        task: task.id,
        error: error instanceof Error ? error.message : String(error),
      });
    });
    return task;
  }

  /**
   * Starts the VM and waits for its READY line, within the template's ready timeout. The domain starts
   * paused so the console is attached before the guest can print; a guest that never reports ready, or a
   * cancelled start, is destroyed so the VM is left shut off.
   */
  async start(name: string, task: TaskContext): Promise<StartedVm> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (await this.isActive(client, vm.domain)) throw alreadyRunning(name);
    const template = await this.loadTemplate(vm.metadata.template);
    task.reportProgress(0.05, `verifying image ${vm.metadata.image.name}@${vm.metadata.image.sha256}`);
    const image = await this.verifyVmImage(vm.metadata);
    task.signal.throwIfAborted();

    const hasDisks = declaresVolumes(template);
    let console: LibvirtStream | undefined;
    try {
      if (hasDisks) {
        task.reportProgress(0.1, 'preparing the disks');
        const { disks, checkpoints } = await this.prepareDisks(name, template);
        // The private volume's top moves with every checkpoint and revert: define the domain on today's paths.
        await this.define(client, {
          name,
          uuid: vm.domain.uuid,
          template,
          image,
          domainType: this.domainType(),
          disks,
          checkpoints,
        });
        task.signal.throwIfAborted();
      }
      task.reportProgress(0.2, 'starting the domain');
      const startedAt = performance.now();
      try {
        await client.domainCreate(vm.domain, DomainCreateFlags.START_PAUSED);
        console = await client.domainOpenConsole(vm.domain);
        await client.domainResume(vm.domain);
      } catch (error) {
        throw libvirtFailure(`starting VM ${name}`, error);
      }
      task.reportProgress(
        0.4,
        `waiting for the guest's READY line (up to ${template.readyTimeoutSeconds} s)`,
      );
      const ready = await this.awaitReady(name, console, template.readyTimeoutSeconds, task.signal);
      const readyAfterSeconds = Math.round(performance.now() - startedAt) / 1000;
      this.options.logger.info('VM ready', { vm: name, bootId: ready.bootId, readyAfterSeconds });
      return { name, bootId: ready.bootId, guestUptimeSeconds: ready.uptimeSeconds, readyAfterSeconds };
    } catch (error) {
      await this.destroyQuietly(client, vm.domain, name);
      if (hasDisks) await this.cleanupDisksQuietly(name, template);
      throw error;
    } finally {
      console?.destroy();
    }
  }

  /** Stops the VM at once (tiny guests do not handle ACPI, so this is a destroy, not a shutdown). */
  async stop(name: string): Promise<{ name: string }> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (!(await this.isActive(client, vm.domain))) {
      throw new ServiceError('conflict', 'VM_NOT_RUNNING', `VM ${name} is not running`, 'nothing to stop');
    }
    try {
      await client.domainDestroy(vm.domain);
    } catch (error) {
      throw libvirtFailure(`stopping VM ${name}`, error);
    }
    if ((await this.diskVmNames()).includes(name)) {
      const template = await this.loadTemplate(vm.metadata.template);
      try {
        await this.cleanupDisks(name, template);
      } catch (error) {
        throw diskFailure(`discarding the volatile volume of stopped VM ${name}`, error);
      }
    }
    this.options.logger.info('VM stopped', { vm: name });
    return { name };
  }

  /** Removes a stopped VM from libvirt. */
  async delete(name: string): Promise<{ name: string }> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (await this.isActive(client, vm.domain)) {
      throw new ServiceError(
        'conflict',
        'VM_RUNNING',
        `VM ${name} is running`,
        'stop it first (`mvctl vm stop NAME`), then delete it',
      );
    }
    try {
      await client.domainUndefine(vm.domain);
    } catch (error) {
      throw libvirtFailure(`deleting VM ${name}`, error);
    }
    if ((await this.diskVmNames()).includes(name)) {
      try {
        await this.options.disks.deleteVm(name);
      } catch (error) {
        throw diskFailure(`deleting the disks of VM ${name} (its domain is already gone)`, error);
      }
    }
    this.options.logger.info('VM deleted', { vm: name });
    return { name };
  }

  /**
   * Fresh root-less volumes for this run. An ephemeral VM's private volume is discarded at stop too, so its
   * disks are made anew at every start (also replacing any a crash left behind).
   */
  private async prepareDisks(
    name: string,
    template: VmTemplate,
  ): Promise<{ disks: StartDisks; checkpoints: CheckpointRecord[] }> {
    const store = this.options.disks;
    try {
      if (template.ephemeral) {
        if ((await store.vmNames()).includes(name)) await store.deleteVm(name);
        await store.createVm(name, {
          base: null,
          privateSizeBytes: template.diskBytes.private,
          volatileSizeBytes: template.diskBytes.volatile,
        });
      }
      const disks = await store.prepareForStart(name);
      const manifest = await store.manifest(name);
      return { disks, checkpoints: manifest.private?.checkpoints ?? [] };
    } catch (error) {
      throw diskFailure(`preparing the disks of VM ${name}`, error);
    }
  }

  /** After a stop: the volatile volume goes, and with an ephemeral template the private one too. */
  private async cleanupDisks(name: string, template: VmTemplate): Promise<void> {
    await this.options.disks.cleanupAfterStop(name);
    if (template.ephemeral) {
      await this.options.disks.deleteVm(name);
      // Recreated empty so the VM keeps disks between runs, as every non-ephemeral VM does.
      await this.options.disks.createVm(name, {
        base: null,
        privateSizeBytes: template.diskBytes.private,
        volatileSizeBytes: template.diskBytes.volatile,
      });
    }
  }

  private async cleanupDisksQuietly(name: string, template: VmTemplate): Promise<void> {
    try {
      await this.cleanupDisks(name, template);
    } catch (error) {
      this.options.logger.warn('discarding the volumes of a VM after its failed start failed', {
        vm: name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async deleteDisksQuietly(name: string): Promise<void> {
    try {
      await this.options.disks.deleteVm(name);
    } catch (error) {
      this.options.logger.warn('removing the disks of a VM whose definition failed failed', {
        vm: name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async diskVmNames(): Promise<string[]> {
    try {
      return await this.options.disks.vmNames();
    } catch (error) {
      throw diskFailure('listing the VMs that have disks', error);
    }
  }

  /** Defines (or redefines, same uuid) the domain from the template and the VM's facts. */
  private async define(
    client: LibvirtClient,
    facts: {
      name: string;
      uuid: string;
      template: VmTemplate;
      image: VerifiedImage;
      domainType: 'kvm' | 'qemu';
      disks: StartDisks;
      checkpoints: CheckpointRecord[];
    },
  ): Promise<void> {
    const { name, template, image, disks } = facts;
    let xml: string;
    try {
      const model = buildVmModel(template, {
        name,
        uuid: facts.uuid,
        image: `${image.manifest.name}@${image.manifest.id}`,
        kernel: {
          kernelPath: image.kernelPath,
          initrdPath: image.initramfsPath,
          arguments: image.manifest.boot.kernelArguments,
        },
        disks: {
          ...(disks.root === null ? {} : { root: disks.root }),
          ...(disks.private === null ? {} : { private: disks.private }),
          ...(disks.volatile === null ? {} : { volatile: disks.volatile }),
        },
        checkpoints: facts.checkpoints,
      });
      xml = generateDomainXml(model, { domainType: facts.domainType });
    } catch (error) {
      if (!(error instanceof DomainXmlError)) throw error;
      throw new ServiceError(
        'invalid-input',
        'VM_INVALID',
        `VM ${name} cannot be made from template ${template.name}: ${error.message}`,
        'fix what the message names and retry',
        { cause: error },
      );
    }
    try {
      await client.domainDefineXml(xml);
    } catch (error) {
      throw libvirtFailure(`defining VM ${name}`, error);
    }
  }

  /** The VM's checkpoints, oldest first; also while it runs (listing reads the manifest and file sizes only). */
  async listCheckpoints(name: string): Promise<{ name: string; checkpoints: Checkpoint[] }> {
    const client = requireLibvirt(this.options.host);
    await this.requireManaged(client, name);
    await this.requirePrivateVolume(name);
    try {
      return { name, checkpoints: await this.options.disks.listCheckpoints(name) };
    } catch (error) {
      throw diskFailure(`listing the checkpoints of VM ${name}`, error);
    }
  }

  /**
   * Records a task that changes the checkpoints of a stopped VM with `change`, then mirrors the new checkpoint
   * list (and private top) into the domain definition. Refused before a task is recorded when the VM runs, is
   * ephemeral or has no private volume; checked again when the task runs, since a start may have come first.
   */
  async changeCheckpointsAsTask<T>(
    tasks: TaskManager,
    kind: CheckpointChangeKind,
    name: string,
    requestedBy: AuditActor,
    change: (disks: DiskStore) => Promise<T>,
  ): Promise<TaskRecord> {
    await this.requireCheckpointable(name);
    const { task, done } = tasks.start({ kind, target: name, requestedBy }, async (context) => {
      const vm = await this.requireCheckpointable(name);
      context.reportProgress(0.1, `changing the disk chain of VM ${name}`);
      let result: T;
      try {
        result = await change(this.options.disks);
      } catch (error) {
        throw diskFailure(`${kind} of VM ${name}`, error);
      }
      context.reportProgress(0.8, 'recording the checkpoints in the domain definition');
      await this.mirrorCheckpoints(vm);
      this.options.logger.info('VM checkpoints changed', { vm: name, verb: kind });
      return result;
    });
    done.catch((error: unknown) => {
      this.options.logger.error('recording the end of a checkpoint task failed', {
        vm: name,
        task: task.id,
        error: error instanceof Error ? error.message : String(error),
      });
    });
    return task;
  }

  private async requireCheckpointable(name: string): Promise<ManagedVm> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (await this.isActive(client, vm.domain)) {
      throw new ServiceError(
        'conflict',
        'VM_RUNNING',
        `VM ${name} is running; hostd changes checkpoints of stopped VMs only (live checkpoints come later)`,
        'stop it first (`mvctl vm stop NAME`), then retry',
      );
    }
    await this.requirePrivateVolume(name);
    if (vm.metadata.ephemeral) {
      throw new ServiceError(
        'conflict',
        'VM_EPHEMERAL',
        `VM ${name} is ephemeral: its private volume is discarded at every stop, so there is nothing to checkpoint`,
        'checkpoint VMs made from a template with `ephemeral: false`',
      );
    }
    return vm;
  }

  private async requirePrivateVolume(name: string): Promise<void> {
    let hasPrivate: boolean;
    try {
      hasPrivate =
        (await this.diskVmNames()).includes(name) &&
        (await this.options.disks.manifest(name)).private !== null;
    } catch (error) {
      throw diskFailure(`reading the disks of VM ${name}`, error);
    }
    if (!hasPrivate) {
      throw new ServiceError(
        'conflict',
        'NO_PRIVATE_VOLUME',
        `VM ${name} has no private volume (its template declares none), so it has no checkpoints`,
        'checkpoints are kept for VMs whose template has a private volume',
      );
    }
  }

  /**
   * libvirt's copy of the checkpoint list (and the private top's path) follows the disk manifest, the truth. A
   * failure here is logged, not thrown: the change itself is done, and every start redefines the domain anyway.
   */
  private async mirrorCheckpoints(vm: ManagedVm): Promise<void> {
    try {
      const client = requireLibvirt(this.options.host);
      const template = await this.loadTemplate(vm.metadata.template);
      const image = await this.verifyVmImage(vm.metadata);
      const disks = await this.options.disks.diskPaths(vm.domain.name);
      const manifest = await this.options.disks.manifest(vm.domain.name);
      await this.define(client, {
        name: vm.domain.name,
        uuid: vm.domain.uuid,
        template,
        image,
        domainType: this.domainType(),
        disks,
        checkpoints: manifest.private?.checkpoints ?? [],
      });
    } catch (error) {
      this.options.logger.warn(
        'mirroring the checkpoint list into the domain failed; the next start does it',
        {
          vm: vm.domain.name,
          error: error instanceof Error ? error.message : String(error),
        },
      );
    }
  }

  private domainType(): 'kvm' | 'qemu' {
    const decision = this.options.host.status().accelerator;
    if (decision === undefined) {
      throw new ServiceError(
        'unavailable',
        'ACCELERATOR_UNDECIDED',
        'hostd has not decided between KVM and TCG yet (it is probing KVM)',
        'retry in a few seconds; `mvctl host info` shows the decision once it is made',
      );
    }
    return decision.accelerator === 'kvm' ? 'kvm' : 'qemu';
  }

  private async loadTemplate(name: string): Promise<VmTemplate> {
    let templates: VmTemplate[];
    try {
      templates = await loadTemplateDirectory(this.options.templatesDirectory);
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      throw new ServiceError(
        'internal',
        'TEMPLATES_INVALID',
        `the templates in ${this.options.templatesDirectory} do not load: ${error.message}`,
        'fix the template files named, then retry',
        { cause: error },
      );
    }
    const template = templates.find((candidate) => candidate.name === name);
    if (template === undefined) {
      throw new ServiceError(
        'not-found',
        'TEMPLATE_NOT_FOUND',
        `there is no template named ${name}`,
        `the templates are: ${templates.map((candidate) => candidate.name).join(', ')}`,
      );
    }
    return template;
  }

  private async verifyVmImage(metadata: VmMetadata): Promise<VerifiedImage> {
    const ref = `${metadata.image.name}@${metadata.image.sha256}`;
    try {
      return await verifyImage(join(this.options.imagesDirectory, ref));
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      throw new ServiceError(
        'conflict',
        'IMAGE_UNUSABLE',
        `the VM's image ${ref} cannot be used (${error.code}): ${error.message}`,
        'rebuild the image (delete its directory; creating a VM from a template builds it), then recreate the VM',
        { cause: error },
      );
    }
  }

  private async awaitReady(
    name: string,
    console: LibvirtStream,
    timeoutSeconds: number,
    signal: AbortSignal,
  ): Promise<ReadyAnnouncement> {
    try {
      return await waitForReadyLine(console, { timeoutMs: timeoutSeconds * 1000, signal });
    } catch (error) {
      if (!(error instanceof ReadyWaitError)) throw error;
      if (error.failure === 'cancelled') throw error;
      const code = error.failure === 'timeout' ? 'VM_NOT_READY' : 'VM_STOPPED_DURING_BOOT';
      throw new ServiceError(
        'upstream',
        code,
        `VM ${name} did not report ready: ${error.message}; last console output:\n${error.consoleTail}`,
        error.failure === 'timeout'
          ? 'the VM was stopped; read the console output above, then start it again'
          : 'the guest stopped (or was stopped) while booting; start it again',
        { cause: error },
      );
    }
  }

  private async destroyQuietly(client: LibvirtClient, domain: Domain, name: string): Promise<void> {
    try {
      if (await client.domainIsActive(domain)) await client.domainDestroy(domain);
    } catch (error) {
      this.options.logger.warn('stopping a VM after its failed start failed', {
        vm: name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async isActive(client: LibvirtClient, domain: Domain): Promise<boolean> {
    try {
      return await client.domainIsActive(domain);
    } catch (error) {
      throw libvirtFailure(`reading the state of VM ${domain.name}`, error);
    }
  }

  private async lookup(client: LibvirtClient, name: string): Promise<Domain | undefined> {
    try {
      return await client.domainLookupByName(name);
    } catch (error) {
      if (error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_DOMAIN) return undefined;
      throw libvirtFailure(`looking up VM ${name}`, error);
    }
  }

  /** The VM if it exists and carries Multiverse metadata; hostd leaves domains it did not make alone. */
  private async requireManaged(client: LibvirtClient, name: string): Promise<ManagedVm> {
    const domain = await this.lookup(client, name);
    if (domain === undefined) {
      throw new ServiceError(
        'not-found',
        'VM_NOT_FOUND',
        `there is no VM named ${name}`,
        'list VMs with `mvctl vm list`',
      );
    }
    let xml: string;
    try {
      xml = await client.domainGetXmlDesc(domain);
    } catch (error) {
      throw libvirtFailure(`reading VM ${name}`, error);
    }
    let metadata: VmMetadata | null;
    try {
      metadata = readVmMetadata(xml);
    } catch (error) {
      if (!(error instanceof DomainXmlError)) throw error;
      throw new ServiceError(
        'conflict',
        'VM_METADATA_INVALID',
        `VM ${name}'s Multiverse metadata is invalid: ${error.message}`,
        'hostd will not act on it; inspect it with `virsh dumpxml` and recreate the VM',
        { cause: error },
      );
    }
    if (metadata === null) {
      throw new ServiceError(
        'conflict',
        'VM_NOT_MANAGED',
        `domain ${name} was not made by Multiverse (it has no Multiverse metadata)`,
        'manage it with virsh; hostd only acts on VMs it created',
      );
    }
    return { domain, metadata };
  }
}

function declaresVolumes(template: VmTemplate): boolean {
  return template.diskBytes.private !== null || template.diskBytes.volatile !== null;
}

function alreadyRunning(name: string): ServiceError {
  return new ServiceError(
    'conflict',
    'VM_ALREADY_RUNNING',
    `VM ${name} is already running`,
    'nothing to start',
  );
}
