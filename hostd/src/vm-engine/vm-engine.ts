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
import type { ReadyAnnouncement, VmMetadata, VmTemplate } from '@multiverse/vm-templates';
import type { Logger } from '../log.js';
import { libvirtFailure, requireLibvirt } from '../service/libvirt-access.js';
import { ServiceError } from '../service/service-error.js';
import type { HostFacts } from '../service/verb.js';
import type { AuditActor } from '../audit/index.js';
import type { TaskContext, TaskManager, TaskRecord } from '../tasks/index.js';
import { ensureGuestImage } from './guest-image.js';
import { ReadyWaitError, waitForReadyLine } from './ready-watch.js';

export interface VmEngineOptions {
  readonly host: HostFacts;
  /** Where guest images are built and kept (`<stateDir>/images`). */
  readonly imagesDirectory: string;
  /** The templates VMs are created from (vm-templates' shipped directory). */
  readonly templatesDirectory: string;
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
    const volumes = Object.entries(template.diskBytes).filter(([, size]) => size !== null);
    if (volumes.length > 0) {
      // The disk store layers qcow2 volumes on a qcow2 base; kernel-boot images (tiny) are not one, and the
      // disk-boot Debian image has no builder yet.
      throw new ServiceError(
        'conflict',
        'TEMPLATE_VOLUMES_UNSUPPORTED',
        `template ${template.name} declares volumes (${volumes.map(([volume]) => volume).join(', ')}), which hostd cannot provide yet`,
        'create VMs from a template without volumes, such as fallback',
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
    let xml: string;
    try {
      const model = buildVmModel(template, {
        name,
        uuid,
        image: `${image.manifest.name}@${image.manifest.id}`,
        kernel: {
          kernelPath: image.kernelPath,
          initrdPath: image.initramfsPath,
          arguments: image.manifest.boot.kernelArguments,
        },
      });
      xml = generateDomainXml(model, { domainType });
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
    await this.verifyVmImage(vm.metadata);
    task.signal.throwIfAborted();

    task.reportProgress(0.2, 'starting the domain');
    const startedAt = performance.now();
    let console: LibvirtStream | undefined;
    try {
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
    this.options.logger.info('VM deleted', { vm: name });
    return { name };
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

  private async verifyVmImage(metadata: VmMetadata): Promise<void> {
    const ref = `${metadata.image.name}@${metadata.image.sha256}`;
    try {
      await verifyImage(join(this.options.imagesDirectory, ref));
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

function alreadyRunning(name: string): ServiceError {
  return new ServiceError(
    'conflict',
    'VM_ALREADY_RUNNING',
    `VM ${name} is already running`,
    'nothing to start',
  );
}
