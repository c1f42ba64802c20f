import { randomBytes, randomUUID } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DomainConsoleFlags,
  DomainCreateFlags,
  DomainSnapshotCreateFlags,
  ErrorNumber,
  LibvirtError,
} from '@multiverse/libvirt-ts';
import type { Domain, LibvirtClient, LibvirtStream } from '@multiverse/libvirt-ts';
import {
  DomainXmlError,
  ImageError,
  TemplateError,
  buildVmModel,
  element,
  generateDomainXml,
  ONION_ROUTER,
  loadTemplateDirectory,
  renderXml,
  readVmMetadata,
  VerifiedImageCache,
} from '@multiverse/vm-templates';
import type { ReadyAnnouncement, VerifiedImage, VmMetadata, VmTemplate } from '@multiverse/vm-templates';
import type { CpuPlan, PlannedVm } from '../cpu-plan/index.js';
import { cpuPlanVmOf } from '../cpu-plan/index.js';
import type { Checkpoint, CheckpointRecord, DiskStore, OverlayCreator, StartDisks } from '../disks/index.js';
import type { LiveMerger } from '../disks/index.js';
import { QemuImg } from '../disks/index.js';
import { diskSecretUuidsOf, luksEncryptionElement } from '../vault/index.js';
import type { VmDiskKeys } from '../vault/index.js';
import type { Logger } from '../log.js';
import { libvirtFailure, requireLibvirt } from '../service/libvirt-access.js';
import { ServiceError } from '../service/service-error.js';
import type { HostFacts } from '../service/verb.js';
import type { AuditActor } from '../audit/index.js';
import type { TaskContext, TaskManager, TaskRecord } from '../tasks/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedMutex } from '../disks/keyed-mutex.js';
import { planPlacement, plannedVm } from './cpu-placement.js';
import type { PlacedVm } from './cpu-placement.js';
import { diskFailure } from './disk-failure.js';
import { readDiskSources, readDomainFacts } from './domain-facts.js';
import { ensureNetworks, networkAttachments } from './vm-networks.js';
import type { OnionLinks, OnionLinkStatus } from './vm-networks.js';
import { buildGuestImageAsTask, ensureGuestImage, listGuestImages, verifyGuestImage } from './guest-image.js';
import type { ImageListing } from './guest-image.js';
import { ReadyWaitError, waitForReadyLine } from './ready-watch.js';
import { runLiveMergeJob } from './live-merge-job.js';

export interface VmEngineOptions {
  readonly host: HostFacts;
  /** Where guest images are built and kept (`<stateDir>/images`). */
  readonly imagesDirectory: string;
  /** Downloads kept between image builds (Debian packages); default `<imagesDirectory>/.cache`. */
  readonly imageCacheDirectory?: string;
  /** The templates VMs are created from (vm-templates' shipped directory). */
  readonly templatesDirectory: string;
  /** The VMs' private and volatile volumes. */
  readonly disks: DiskStore;
  /** The keys of encrypted VMs (the vault's); without it `encrypted` VMs cannot be made. */
  readonly diskKeys?: VmDiskKeys;
  /**
   * This hostd's host id, recorded in every VM it makes; VMs with another (or none) are not its own. Default:
   * a new id, so an engine without a kept id manages only the VMs it makes itself.
   */
  readonly hostId?: string;
  readonly logger: Logger;
  /** Makes and removes the links of VMs behind the onion device; without it such VMs do not start. */
  readonly onionLinks?: OnionLinks;
  /**
   * Test only (hostd's crash tests, see disks/crash-test-pause.ts): called at each durable step of the live
   * checkpoint/revert/delete paths, where a test may stop hostd. Unset in production.
   */
  readonly onStep?: (step: string) => void | Promise<void>;
}

export interface CreatedVm {
  readonly name: string;
  readonly uuid: string;
  readonly role: string;
  readonly template: string;
  readonly image: string;
  /** Its volumes are LUKS-encrypted with a key in the vault. */
  readonly encrypted: boolean;
}

export interface VmInfo {
  readonly name: string;
  readonly uuid: string;
  readonly state: string;
  readonly stateReason: string;
  readonly role: string;
  readonly template: string;
  readonly description: string;
  readonly image: string;
  readonly router: string | null;
  readonly ephemeral: boolean;
  /** Made by `vm run`: deleted once it stops. */
  readonly disposable: boolean;
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly pinning: {
    readonly class: string;
    readonly cpus: { vcpus: number[][]; emulator: number[] } | null;
  };
  readonly interfaces: readonly { readonly network: string; readonly mac: string }[];
  readonly disks: StartDisks;
  readonly checkpoints: number;
  /** Its volumes are LUKS-encrypted with a key in the vault (its domain names the key). */
  readonly encrypted: boolean;
  /** A VM behind the onion device: its link while it runs (addresses, tor's ports, drop counters), else null. */
  readonly onionLink: OnionLinkStatus | null;
}

export interface StartedVm {
  readonly name: string;
  readonly bootId: string;
  /** The guest's own uptime when it announced READY. */
  readonly guestUptimeSeconds: number;
  /** From the start call to the READY line, as hostd measured it. */
  readonly readyAfterSeconds: number;
}

/** The template booted when a VM fails to start. */
const FALLBACK_TEMPLATE = 'fallback';
/** Failures of the guest itself; others (libvirt down, bad input) would fail the fallback the same way. */
const FALLBACK_CAUSES = new Set(['VM_NOT_READY', 'VM_STOPPED_DURING_BOOT', 'LIBVIRT_CALL_FAILED']);

/** Names hostd gives the disposables `vm run` makes; no other VM may have one. */
export const DISPOSABLE_NAME_PATTERN = /^disp-[0-9]{1,6}$/;
const STOP_POLL_INTERVAL_MS = 250;
/** What a qcow2 layer no guest has written to occupies: its header and tables. */
const FRESH_LAYER_MAX_BYTES = 1024 * 1024;

/** The verbs that change a stopped VM's checkpoints; each runs as a task on the VM, so never beside a start. */
export type CheckpointChangeKind = 'vm.checkpoint' | 'vm.revert' | 'vm.checkpoint-delete';

/** A Multiverse VM as libvirt holds it: the domain and the metadata hostd wrote into it. */
export interface ManagedVm {
  readonly domain: Domain;
  readonly metadata: VmMetadata;
  /** The domain's XML when it was read. */
  readonly xml: string;
}

/**
 * Creates, starts, stops and deletes Multiverse VMs. libvirt is the only record: a VM is a defined domain
 * with Multiverse metadata, and every call reads the current state from libvirt before acting.
 */
export class VmEngine {
  /** One change at a time per VM: a start's disk preparation never meets a cleanup after the last stop. */
  private readonly vmLocks = new KeyedMutex();

  /** Each start and checkpoint needs the VM's image verified; it is hashed again only when it changed. */
  private readonly verifiedImages = new VerifiedImageCache();

  private readonly hostId: string;

  constructor(private readonly options: VmEngineOptions) {
    this.hostId = options.hostId ?? randomUUID();
  }

  /** Defines the VM in libvirt from a template; it stays shut off until started. */
  async create(
    name: string,
    templateName: string,
    options: {
      disposableInstance?: boolean;
      /** Fallback VMs: the failed VM's disks, attached read-only, and why it was booted. */
      inspect?: { readonly disks: readonly string[]; readonly description: string };
      /** Encrypt its volumes even if the template does not ask for it. */
      encrypted?: boolean;
    } = {},
  ): Promise<CreatedVm> {
    if (DISPOSABLE_NAME_PATTERN.test(name) !== (options.disposableInstance === true)) {
      throw new ServiceError(
        'invalid-input',
        'VM_NAME_RESERVED',
        `names like ${name} (disp-NUMBER) are kept for the disposables \`mvctl vm run\` makes`,
        'choose another name',
      );
    }
    const template = await this.loadTemplate(templateName);
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
    const attachments = networkAttachments(name, template);
    await ensureNetworks(client, attachments);
    const plan = await planPlacement(client, await this.placedVms(client), cpuPlanVmOf(name, template));
    const placement = plannedVm(plan, name);
    const interfaces = attachments.map((attachment) => ({ ...attachment, mac: randomMac() }));
    const hasVolumes = declaresVolumes(template);
    const encrypted = template.encrypted || options.encrypted === true;
    let disks: StartDisks = { root: null, private: null, volatile: null };
    if ((await this.diskVmNames()).includes(name)) await this.removeInterruptedCreate(name);
    let diskKey: { secretUuid: string } | null = null;
    if (encrypted) diskKey = await this.newDiskKey(name, template, hasVolumes);
    if (hasVolumes) {
      const root = await this.rootBase(template, image);
      try {
        await this.options.disks.createVm(name, {
          base: root?.base ?? null,
          rootSizeBytes: root?.sizeBytes ?? null,
          privateSizeBytes: template.diskBytes.private,
          volatileSizeBytes: template.diskBytes.volatile,
          encryption: diskKey,
        });
        disks = await this.options.disks.diskPaths(name);
      } catch (error) {
        if (diskKey !== null) await this.forgetDiskKeyQuietly(name, diskKey.secretUuid);
        throw diskFailure(`making the disks of VM ${name}`, error);
      }
    }
    try {
      await this.define(client, {
        name,
        uuid,
        template,
        image,
        domainType,
        disks,
        checkpoints: [],
        interfaces,
        placement,
        inspected: options.inspect?.disks ?? [],
        description: options.inspect?.description,
      });
    } catch (error) {
      // Disks without a domain would block the name; nothing was written to them yet.
      if (hasVolumes) await this.deleteDisksQuietly(name);
      if (diskKey !== null) await this.forgetDiskKeyQuietly(name, diskKey.secretUuid);
      throw error;
    }
    this.options.logger.info('VM created', { vm: name, template: template.name, uuid, domainType });
    return {
      name,
      uuid,
      role: template.role,
      template: template.name,
      image: `${image.manifest.name}@${image.manifest.id}`,
      encrypted: diskKey !== null,
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
    this.requireDiskKeys(vm, 'unseal the vault, then start it');
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
  /**
   * `afterReady` runs on the start's own console once READY is in, before it closes: a console opened later
   * waits for QEMU to notice it (its serial pty polls for a reader once a second), so a caller that talks to the
   * guest right away (a disposable's shell probe) does it here.
   */
  async start(
    name: string,
    task: TaskContext,
    options: { readonly afterReady?: (console: LibvirtStream) => Promise<void> } = {},
  ): Promise<StartedVm> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (await this.isActive(client, vm.domain)) throw alreadyRunning(name);
    const template = await this.loadTemplate(vm.metadata.template);
    this.requireDiskKeys(vm, 'unseal the vault, then start it');
    task.reportProgress(0.05, `verifying image ${vm.metadata.image.name}@${vm.metadata.image.sha256}`);
    const image = await this.verifyVmImage(vm.metadata);
    task.signal.throwIfAborted();

    const hasDisks = declaresVolumes(template);
    let console: LibvirtStream | undefined;
    try {
      let startedAt = 0;
      await this.vmLocks.run(name, async () => {
        if (await this.isActive(client, vm.domain)) throw alreadyRunning(name);
        let disks: StartDisks = { root: null, private: null, volatile: null };
        let checkpoints: CheckpointRecord[] = [];
        if (hasDisks) {
          task.reportProgress(0.1, 'preparing the disks');
          ({ disks, checkpoints } = await this.prepareDisks(name, template, domainDiskSecret(vm)));
        }
        // The private volume's top moves with every checkpoint and revert, the CPU plan with the other VMs:
        // the domain is defined anew on today's facts.
        task.reportProgress(0.15, 'planning CPUs and networks');
        // The link and its torifying rules exist before the domain does: its first packet is filtered.
        const onionLink = template.router === ONION_ROUTER ? await this.onionLinkUp(name) : undefined;
        await this.redefine(client, vm, template, image, disks, checkpoints, onionLink);
        task.signal.throwIfAborted();
        task.reportProgress(0.2, 'starting the domain');
        startedAt = performance.now();
        try {
          await client.domainCreate(vm.domain, DomainCreateFlags.START_PAUSED);
          console = await client.domainOpenConsole(vm.domain);
          await client.domainResume(vm.domain);
        } catch (error) {
          throw libvirtFailure(`starting VM ${name}`, error);
        }
      });
      if (console === undefined) throw new Error(`the console of VM ${name} was not opened`);
      task.reportProgress(
        0.4,
        `waiting for the guest's READY line (up to ${template.readyTimeoutSeconds} s)`,
      );
      const ready = await this.awaitReady(name, console, template.readyTimeoutSeconds, task.signal);
      const readyAfterSeconds = Math.round(performance.now() - startedAt) / 1000;
      this.options.logger.info('VM ready', { vm: name, bootId: ready.bootId, readyAfterSeconds });
      await options.afterReady?.(console);
      return { name, bootId: ready.bootId, guestUptimeSeconds: ready.uptimeSeconds, readyAfterSeconds };
    } catch (error) {
      await this.destroyQuietly(client, vm.domain, name);
      await this.afterStopQuietly(name);
      if (error instanceof ServiceError && FALLBACK_CAUSES.has(error.code) && wantsFallback(vm)) {
        throw await this.withFallback(name, error, task);
      }
      throw error;
    } finally {
      console?.destroy();
    }
  }

  /**
   * Asks the guest to power off (ACPI) and waits up to `timeoutSeconds` for it; a guest still running then
   * is cut off (`forced: true`), as `virsh shutdown` followed by `virsh destroy` would. Its volatile volume
   * goes either way.
   */
  async stop(name: string, timeoutSeconds: number): Promise<{ name: string; forced: boolean }> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (!(await this.isActive(client, vm.domain))) throw notRunning(name);
    let forced = false;
    try {
      await client.domainShutdown(vm.domain);
    } catch (error) {
      if (!(await this.isActive(client, vm.domain))) return this.finishStop(name, false);
      throw libvirtFailure(`asking VM ${name} to shut down`, error);
    }
    const deadline = performance.now() + timeoutSeconds * 1000;
    while ((await this.isActive(client, vm.domain)) && performance.now() < deadline) {
      await sleep(STOP_POLL_INTERVAL_MS);
    }
    if (await this.isActive(client, vm.domain)) {
      forced = true;
      await this.destroy(client, vm.domain, name);
    }
    return this.finishStop(name, forced);
  }

  /**
   * A VM did not come up: boot the fallback VM with its disks attached read-only, so the owner can look at
   * them from the fallback's console, and say so in the start's error. The fallback's description keeps why.
   */
  private async withFallback(name: string, failure: ServiceError, task: TaskContext): Promise<ServiceError> {
    const fallbackName = fallbackNameOf(name);
    const reason = failure.message.split('\n')[0] ?? failure.code;
    try {
      task.reportProgress(0.9, `booting fallback VM ${fallbackName} to inspect ${name}`);
      const disks = (await this.diskVmNames()).includes(name)
        ? Object.values(await this.options.disks.diskPaths(name)).filter(
            (path): path is string => path !== null,
          )
        : [];
      const client = requireLibvirt(this.options.host);
      const previous = await this.lookup(client, fallbackName);
      if (previous !== undefined) {
        // Only an earlier fallback is replaced; a VM of the owner's that happens to have the name is not.
        if ((await this.requireManaged(client, fallbackName)).metadata.role !== 'fallback') return failure;
        if (await this.isActive(client, previous)) await this.destroy(client, previous, fallbackName);
        await this.delete(fallbackName);
      }
      await this.create(fallbackName, FALLBACK_TEMPLATE, {
        inspect: {
          disks,
          description: `Fallback for ${name}, booted ${new Date().toISOString()}: ${reason}`.slice(0, 1000),
        },
      });
      await this.start(fallbackName, task);
      this.options.logger.warn('VM failed to start; fallback VM booted', {
        vm: name,
        fallback: fallbackName,
        reason,
      });
      return new ServiceError(
        failure.kind,
        failure.code,
        `${failure.message}\nhostd booted fallback VM ${fallbackName} with ${name}'s disks attached read-only`,
        `inspect them from its console (\`mvctl vm console ${fallbackName}\`); \`mvctl vm info ${fallbackName}\` says why it was booted`,
        { cause: failure },
      );
    } catch (fallbackError) {
      this.options.logger.error('booting the fallback VM failed too', {
        vm: name,
        fallback: fallbackName,
        error: fallbackError instanceof Error ? fallbackError.message : String(fallbackError),
      });
      return failure;
    }
  }

  /** Freezes a running VM (its vCPUs stop; memory stays): how preloaded disposables wait. */
  async pause(name: string): Promise<void> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    try {
      await client.domainSuspend(vm.domain);
    } catch (error) {
      throw libvirtFailure(`pausing VM ${name}`, error);
    }
  }

  async resume(name: string): Promise<void> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    try {
      await client.domainResume(vm.domain);
    } catch (error) {
      throw libvirtFailure(`resuming VM ${name}`, error);
    }
  }

  /** The template of a name, loaded and checked (for callers that act per template). */
  template(name: string): Promise<VmTemplate> {
    return this.loadTemplate(name);
  }

  /** Cuts the VM off at once (`virsh destroy`): for a hung guest, or one that ignores ACPI. */
  async kill(name: string): Promise<{ name: string }> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (!(await this.isActive(client, vm.domain))) throw notRunning(name);
    await this.destroy(client, vm.domain, name);
    await this.finishStop(name, true);
    return { name };
  }

  private async finishStop(name: string, forced: boolean): Promise<{ name: string; forced: boolean }> {
    await this.afterStop(name);
    this.options.logger.info('VM stopped', { vm: name, forced });
    return { name, forced };
  }

  private async destroy(client: LibvirtClient, domain: Domain, name: string): Promise<void> {
    try {
      await client.domainDestroy(domain);
    } catch (error) {
      // It may have stopped by itself meanwhile; only a VM still running is a failure.
      if (await this.isActive(client, domain)) throw libvirtFailure(`stopping VM ${name}`, error);
    }
  }

  /**
   * What follows a stop, however it came (hostd's stop, the guest powering off, a crash, a stop while hostd
   * was down): the volatile volume is discarded, an ephemeral VM's private volume too, and a disposable
   * made by `vm run` is deleted altogether. Idempotent, and a no-op for a VM that runs again by now.
   */
  async afterStop(name: string): Promise<void> {
    await this.vmLocks.run(name, async () => {
      const client = requireLibvirt(this.options.host);
      const domain = await this.lookup(client, name);
      if (domain === undefined || (await this.isActive(client, domain))) return;
      let vm: ManagedVm;
      try {
        vm = await this.requireManaged(client, name);
      } catch (error) {
        // Domains hostd did not make are not its to clean up.
        if (error instanceof ServiceError && error.code === 'VM_NOT_MANAGED') return;
        throw error;
      }
      // The link goes with the run: a VM started by hand (virsh) finds no TAP device and does not start.
      if (vm.metadata.router === ONION_ROUTER) await this.onionLinkDown(name);
      if (isDisposableInstance(vm)) {
        await this.deleteLocked(client, vm);
        this.options.logger.info('disposable VM deleted after it stopped', { vm: name });
        return;
      }
      if (!(await this.diskVmNames()).includes(name)) return;
      const template = await this.loadTemplate(vm.metadata.template);
      try {
        await this.cleanupDisks(name, template, domainDiskSecret(vm));
      } catch (error) {
        throw diskFailure(`discarding the volatile volume of stopped VM ${name}`, error);
      }
    });
  }

  /** Removes a stopped VM from libvirt, with its disks. */
  async delete(name: string): Promise<{ name: string }> {
    return this.vmLocks.run(name, async () => {
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
      await this.deleteLocked(client, vm);
      this.options.logger.info('VM deleted', { vm: name });
      return { name };
    });
  }

  private async deleteLocked(client: LibvirtClient, vm: ManagedVm): Promise<void> {
    const name = vm.domain.name;
    const hasDisks = (await this.diskVmNames()).includes(name);
    let encryption: { secretUuid: string } | null;
    try {
      encryption = hasDisks ? ((await this.options.disks.manifest(name)).encryption ?? null) : null;
      // Disks a sealed stop could not remake (ephemeral VMs) leave the key named by the domain alone.
      const domainSecret = domainDiskSecret(vm);
      if (encryption === null && domainSecret !== undefined) encryption = { secretUuid: domainSecret };
    } catch (error) {
      throw diskFailure(`reading the disks of VM ${name}`, error);
    }
    // Its key leaves the vault with it, so deleting it needs the vault open: refused before anything goes.
    if (encryption !== null) this.requireDiskKeys(vm, 'unseal the vault, then delete it', true);
    try {
      await client.domainUndefine(vm.domain);
    } catch (error) {
      throw libvirtFailure(`deleting VM ${name}`, error);
    }
    if (hasDisks) {
      try {
        await this.options.disks.deleteVm(name);
      } catch (error) {
        throw diskFailure(`deleting the disks of VM ${name} (its domain is already gone)`, error);
      }
    }
    // The key goes last: a crash before this leaves an unused key in the vault, never a disk without its key.
    if (encryption !== null) await this.requireDiskKeyStore(name).forget(encryption.secretUuid);
  }

  /** A new disk key in the vault for an encrypted VM (VAULT_SEALED / VAULT_NOT_INITIALISED otherwise). */
  private async newDiskKey(
    name: string,
    template: VmTemplate,
    hasVolumes: boolean,
  ): Promise<{ secretUuid: string }> {
    if (!hasVolumes) {
      throw new ServiceError(
        'invalid-input',
        'NOTHING_TO_ENCRYPT',
        `template ${template.name} gives its VMs no volume (root, private or volatile), so there is nothing to encrypt`,
        'leave out --encrypted, or use a template with volumes',
      );
    }
    return this.requireDiskKeyStore(name).create(name, this.options.disks.vmDirectory(name));
  }

  private requireDiskKeyStore(name: string): VmDiskKeys {
    const keys = this.options.diskKeys;
    if (keys === undefined) {
      throw new ServiceError(
        'unavailable',
        'DISK_KEYS_UNAVAILABLE',
        `VM ${name} has encrypted disks, and this hostd runs without a vault for their keys`,
        'run the VM engine with the vault (hostd does)',
      );
    }
    return keys;
  }

  /**
   * VAULT_SEALED (saying which VM and what to do) when the VM's disks are encrypted and their key cannot be
   * used now; plain VMs pass. `always`: also for a VM whose domain names no key (a delete reads the manifest).
   */
  private requireDiskKeys(vm: ManagedVm, what: string, always = false): void {
    if (!always && diskSecretUuidsOf(vm.xml).length === 0) return;
    this.requireDiskKeyStore(vm.domain.name).requireUsable(vm.domain.name, what);
  }

  private async forgetDiskKeyQuietly(name: string, secretUuid: string): Promise<void> {
    try {
      await this.requireDiskKeyStore(name).forget(secretUuid);
    } catch (error) {
      this.options.logger.warn('an unused disk key stays in the vault', {
        vm: name,
        secret: secretUuid,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /**
   * Fresh root-less volumes for this run. An ephemeral VM's private volume is discarded at stop too, so its
   * disks are made anew at every start (also replacing any a crash left behind).
   */
  private async prepareDisks(
    name: string,
    template: VmTemplate,
    domainSecret: string | undefined,
  ): Promise<{ disks: StartDisks; checkpoints: CheckpointRecord[] }> {
    const store = this.options.disks;
    try {
      if (template.ephemeral) await this.remakeDisks(name, template, domainSecret);
      const disks = await store.prepareForStart(name);
      const manifest = await store.manifest(name);
      return { disks, checkpoints: manifest.private?.checkpoints ?? [] };
    } catch (error) {
      throw diskFailure(`preparing the disks of VM ${name}`, error);
    }
  }

  /** After a stop: the volatile volume goes, and with an ephemeral template the private one too. */
  private async cleanupDisks(
    name: string,
    template: VmTemplate,
    domainSecret: string | undefined,
  ): Promise<void> {
    await this.options.disks.cleanupAfterStop(name);
    if (!template.ephemeral) return;
    // Remade empty so the VM keeps disks between runs, as every non-ephemeral VM does.
    try {
      await this.remakeDisks(name, template, domainSecret);
    } catch (error) {
      // Its data is gone already; encrypted disks need the key, so a sealed vault leaves them to the next start.
      const sealed = error instanceof ServiceError && error.code === 'VAULT_SEALED';
      if (domainSecret === undefined || !sealed) throw error;
      this.options.logger.info(
        'an encrypted ephemeral VM gets its new disks at its next start (vault sealed)',
        {
          vm: name,
        },
      );
    }
  }

  /** An ephemeral VM's disks made anew on the same base, whatever the last run wrote. */
  private async remakeDisks(
    name: string,
    template: VmTemplate,
    domainSecret: string | undefined,
  ): Promise<void> {
    const store = this.options.disks;
    const previous = (await store.vmNames()).includes(name) ? await store.manifest(name) : null;
    // An encrypted VM stays encrypted with its key. The domain names the key too: a stop while the vault was
    // sealed discards the old disks but cannot make new encrypted ones, which the next start (unsealed) does.
    const secretUuid = previous?.encryption?.secretUuid ?? domainSecret;
    if (previous !== null) await store.deleteVm(name);
    await store.createVm(name, {
      base: previous?.base ?? null,
      rootSizeBytes: previous?.rootSizeBytes ?? null,
      privateSizeBytes: template.diskBytes.private,
      volatileSizeBytes: template.diskBytes.volatile,
      encryption: secretUuid === undefined ? null : { secretUuid },
    });
  }

  private async afterStopQuietly(name: string): Promise<void> {
    try {
      await this.afterStop(name);
    } catch (error) {
      this.options.logger.warn('cleaning up after a failed start failed', {
        vm: name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /**
   * The base a template's root volume overlays: the image's root disk, imported once into the disk store
   * (content-addressed, read-only; a second import of the same bytes is the same base), and the root overlay's
   * size — the template's, or the image's own when that is larger.
   */
  private async rootBase(
    template: VmTemplate,
    image: VerifiedImage,
  ): Promise<{ base: string; sizeBytes: number } | null> {
    if (template.diskBytes.root === null) return null;
    const rootDisk = image.manifest.boot.rootDisk;
    if (image.rootDiskPath === null || rootDisk === undefined) {
      throw new ServiceError(
        'invalid-input',
        'TEMPLATE_IMAGE_HAS_NO_ROOT',
        `template ${template.name} declares a root volume, but its image ${image.manifest.name} boots from a kernel and initramfs alone`,
        'drop the root volume from the template, or use an image with a root disk (debian)',
      );
    }
    try {
      const ref = await this.options.disks.images.import({
        name: image.manifest.name,
        source: image.rootDiskPath,
        format: 'qcow2',
      });
      return {
        base: `${ref.name}@${ref.sha256}`,
        sizeBytes: Math.max(template.diskBytes.root, rootDisk.virtualSizeBytes),
      };
    } catch (error) {
      throw diskFailure(`importing the root disk of image ${image.manifest.name}`, error);
    }
  }

  /**
   * Disks with no domain are what a create or delete cut off by a crash left: a domain is defined after its
   * disks and undefined before them. Fresh ones (no checkpoint, an empty private layer) are removed; disks
   * that hold data are kept and the name refused, since they may be a VM whose domain was undefined by hand.
   */
  private async removeInterruptedCreate(name: string): Promise<void> {
    let holdsData: boolean;
    try {
      const disks = await this.options.disks.diskPaths(name);
      const checkpoints = disks.private === null ? [] : await this.options.disks.listCheckpoints(name);
      const privateBytes = disks.private === null ? 0 : (await stat(disks.private)).blocks * 512;
      holdsData = checkpoints.length > 0 || privateBytes > FRESH_LAYER_MAX_BYTES;
    } catch (error) {
      throw diskFailure(`reading the disks left for VM name ${name}`, error);
    }
    if (holdsData) {
      throw new ServiceError(
        'conflict',
        'VM_DISKS_ORPHANED',
        `disks of a VM named ${name} exist without its domain, and they hold data`,
        `hostd keeps them: move vms/${name} out of hostd's state directory (or restore the domain with virsh), then retry`,
      );
    }
    this.options.logger.warn('removing the fresh disks an interrupted create left behind', { vm: name });
    await this.deleteDisksQuietly(name);
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

  /**
   * Defines the VM again on the given disks, keeping its identity (uuid, MAC addresses) and, when it still
   * fits, its CPUs; the networks it is attached to are made if missing.
   */
  private async redefine(
    client: LibvirtClient,
    vm: ManagedVm,
    template: VmTemplate,
    image: VerifiedImage,
    disks: StartDisks,
    checkpoints: CheckpointRecord[],
    onionLink?: { readonly tap: string; readonly address: string; readonly gateway: string },
    identity: { readonly freshMacs?: boolean } = {},
  ): Promise<void> {
    const facts = readDomainFacts(vm.xml, template.vcpus);
    const attachments = networkAttachments(vm.domain.name, template);
    await ensureNetworks(client, attachments);
    const interfaces = attachments.map((attachment) => ({
      ...attachment,
      mac:
        identity.freshMacs === true
          ? randomMac()
          : (facts.macByNetwork.get(attachment.network) ?? randomMac()),
    }));
    const plan = await planPlacement(client, await this.placedVms(client), {
      ...cpuPlanVmOf(vm.domain.name, template),
      ...(facts.pinning === undefined ? {} : { currentPinning: facts.pinning }),
    });
    await this.define(client, {
      name: vm.domain.name,
      uuid: vm.domain.uuid,
      template,
      image,
      domainType: this.domainType(),
      disks,
      checkpoints,
      interfaces,
      placement: plannedVm(plan, vm.domain.name),
      inspected: template.role === 'fallback' ? facts.readOnlyDisks : [],
      description: template.role === 'fallback' && facts.description !== '' ? facts.description : undefined,
      // A fresh MAC at every start: the link itself is new, and nothing beyond the host ever sees it.
      ...(onionLink === undefined ? {} : { onionLink: { ...onionLink, mac: randomMac() } }),
    });
  }

  private async onionLinkUp(
    name: string,
  ): Promise<{ readonly tap: string; readonly address: string; readonly gateway: string }> {
    if (this.options.onionLinks === undefined) {
      throw new ServiceError(
        'unavailable',
        'ONION_UNAVAILABLE',
        `VM ${name} sits behind the onion device, and hostd's tor and onion support did not start`,
        "hostd's log says why (`tor, call-home and onion0 cannot start`); fix it and restart hostd",
      );
    }
    return this.options.onionLinks.up(name);
  }

  /**
   * A link that cannot be removed is logged, not thrown: it still has its rules (it carries nothing but to
   * tor), and the disks' cleanup after the stop must go on. The next start of the VM replaces it.
   */
  private async onionLinkDown(name: string): Promise<void> {
    try {
      await this.options.onionLinks?.down(name);
    } catch (error) {
      this.options.logger.warn('the onion link of a stopped VM could not be removed; its rules stay', {
        vm: name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** Everything hostd knows of one VM: libvirt's state, the metadata, its disks, networks and CPUs. */
  async info(name: string): Promise<VmInfo> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    let state;
    let domainInfo;
    try {
      [state, domainInfo] = await Promise.all([
        client.domainGetState(vm.domain),
        client.domainGetInfo(vm.domain),
      ]);
    } catch (error) {
      throw libvirtFailure(`reading VM ${name}`, error);
    }
    const facts = readDomainFacts(vm.xml, domainInfo.virtualCpus);
    let disks: StartDisks = { root: null, private: null, volatile: null };
    let checkpoints: Checkpoint[] = [];
    if ((await this.diskVmNames()).includes(name)) {
      try {
        disks = await this.options.disks.diskPaths(name);
        if (disks.private !== null) checkpoints = await this.options.disks.listCheckpoints(name);
      } catch (error) {
        throw diskFailure(`reading the disks of VM ${name}`, error);
      }
    }
    return {
      name,
      uuid: vm.domain.uuid,
      state: state.stateName,
      stateReason: state.reasonName,
      role: vm.metadata.role,
      template: vm.metadata.template,
      description: facts.description,
      image: `${vm.metadata.image.name}@${vm.metadata.image.sha256}`,
      router: vm.metadata.router,
      ephemeral: vm.metadata.ephemeral,
      disposable: isDisposableInstance(vm),
      vcpus: domainInfo.virtualCpus,
      memoryBytes: Number(domainInfo.maxMemoryKiB) * 1024,
      pinning: { class: vm.metadata.pinning, cpus: facts.pinning ?? null },
      interfaces: [...facts.macByNetwork].map(([network, mac]) => ({ network, mac })),
      disks,
      checkpoints: checkpoints.length,
      encrypted: domainDiskSecret(vm) !== undefined,
      onionLink:
        vm.metadata.router === ONION_ROUTER ? ((await this.options.onionLinks?.status(name)) ?? null) : null,
    };
  }

  /**
   * The serial console of a running VM as a byte stream (libvirt's console stream). `force` takes it over
   * from another holder, as `virsh console --force` does.
   */
  async openConsole(name: string, options: { force?: boolean } = {}): Promise<LibvirtStream> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (!(await this.isActive(client, vm.domain))) {
      throw new ServiceError(
        'conflict',
        'VM_NOT_RUNNING',
        `VM ${name} is not running, so it has no console`,
        'start it first (`mvctl vm start NAME`)',
      );
    }
    try {
      return await client.domainOpenConsole(vm.domain, {
        flags: options.force === true ? DomainConsoleFlags.FORCE : 0,
      });
    } catch (error) {
      throw libvirtFailure(`opening the console of VM ${name}`, error);
    }
  }

  buildImageAsTask(tasks: TaskManager, name: string, rebuild: boolean, requestedBy: AuditActor): TaskRecord {
    return buildGuestImageAsTask(
      tasks,
      {
        name,
        rebuild,
        imagesDirectory: this.options.imagesDirectory,
        cacheDirectory: this.options.imageCacheDirectory ?? join(this.options.imagesDirectory, '.cache'),
      },
      requestedBy,
    );
  }

  listImages(): Promise<ImageListing> {
    return listGuestImages(this.options.imagesDirectory);
  }

  verifyImage(ref: string): Promise<{ ref: string; files: number; verified: true }> {
    return verifyGuestImage(this.options.imagesDirectory, ref);
  }

  /** Whether a VM with this metadata is this hostd's own (see VmEngineOptions.hostId). */
  owns(metadata: VmMetadata): boolean {
    return metadata.host === this.hostId;
  }

  /** The CPU plan of every defined Multiverse VM, as `mvctl host cpus` shows it. */
  async cpuPlan(): Promise<CpuPlan> {
    const client = requireLibvirt(this.options.host);
    return planPlacement(client, await this.placedVms(client));
  }

  /** Every Multiverse VM libvirt has, with what the CPU planner needs to know of it. */
  private async placedVms(client: LibvirtClient): Promise<PlacedVm[]> {
    const placed: PlacedVm[] = [];
    for (const vm of await this.managedVms(client)) {
      const info = await client.domainGetInfo(vm.domain).catch((error: unknown) => {
        throw libvirtFailure(`reading VM ${vm.domain.name}`, error);
      });
      placed.push({
        name: vm.domain.name,
        metadata: vm.metadata,
        vcpus: info.virtualCpus,
        memoryBytes: Number(info.maxMemoryKiB) * 1024,
        currentPinning: readDomainFacts(vm.xml, info.virtualCpus).pinning,
      });
    }
    return placed;
  }

  /** Every domain with valid Multiverse metadata; others (made outside Multiverse, or vanished meanwhile) are skipped. */
  async managedVms(client: LibvirtClient): Promise<ManagedVm[]> {
    let domains: Domain[];
    try {
      domains = await client.listAllDomains();
    } catch (error) {
      throw libvirtFailure('listing the VMs', error);
    }
    const managed: ManagedVm[] = [];
    for (const domain of domains) {
      try {
        const xml = await client.domainGetXmlDesc(domain);
        const metadata = readVmMetadata(xml);
        if (metadata !== null && this.owns(metadata)) managed.push({ domain, metadata, xml });
      } catch (error) {
        if (error instanceof DomainXmlError) continue;
        if (error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_DOMAIN) continue;
        throw libvirtFailure(`reading VM ${domain.name}`, error);
      }
    }
    return managed;
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
      interfaces: readonly { purpose: 'upstream' | 'inside'; network: string; mac: string }[];
      placement: PlannedVm;
      inspected: readonly string[];
      /** Defaults to the template's. */
      description: string | undefined;
      onionLink?: { tap: string; address: string; gateway: string; mac: string };
    },
  ): Promise<void> {
    const { name, template, image, disks, placement } = facts;
    const diskEncryption = await this.diskEncryptionFacts(name, disks);
    let xml: string;
    try {
      const model = buildVmModel(template, {
        name,
        uuid: facts.uuid,
        hostId: this.hostId,
        image: `${image.manifest.name}@${image.manifest.id}`,
        kernel: {
          kernelPath: image.kernelPath,
          initrdPath: image.initramfsPath,
          arguments: image.manifest.boot.kernelArguments,
        },
        ...(facts.description === undefined ? {} : { description: facts.description }),
        disks: {
          ...(disks.root === null ? {} : { root: disks.root }),
          ...(disks.private === null ? {} : { private: disks.private }),
          ...(disks.volatile === null ? {} : { volatile: disks.volatile }),
          inspected: [...facts.inspected],
        },
        checkpoints: facts.checkpoints,
        ...(diskEncryption === undefined ? {} : { diskEncryption }),
        interfaces: facts.interfaces,
        memoryBytes: placement.memoryBytes,
        cpuShares: placement.cpuShares,
        ...(placement.pinning === 'dedicated'
          ? {
              cpuPinning: {
                vcpus: placement.cpuPinning.vcpus.map((cpus) => [...cpus]),
                emulator: [...placement.cpuPinning.emulator],
              },
            }
          : {}),
        ...(facts.onionLink === undefined ? {} : { onionLink: facts.onionLink }),
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

  /**
   * For an encrypted VM, the key and every layer below its private top and root overlay, which the domain XML
   * must spell out; undefined for a plain VM (libvirt reads plain chains from the headers).
   */
  private async diskEncryptionFacts(
    name: string,
    disks: StartDisks,
  ): Promise<{ secretUuid: string; privateBacking: string[]; rootBase?: string } | undefined> {
    if (disks.root === null && disks.private === null && disks.volatile === null) return undefined;
    let chains;
    try {
      chains = await this.options.disks.layerChains(name);
    } catch (error) {
      throw diskFailure(`reading the disk chains of VM ${name}`, error);
    }
    if (chains.encryption === null) return undefined;
    return {
      secretUuid: chains.encryption.secretUuid,
      privateBacking: disks.private === null ? [] : (chains.private ?? []).slice(1),
      ...(chains.root === null ? {} : { rootBase: chains.root.base }),
    };
  }

  /** Pins a checkpoint (pruning and `--keep` never merge it away) or unpins it; also while the VM runs. */
  async setCheckpointPinned(
    name: string,
    id: string,
    pinned: boolean,
  ): Promise<{ name: string; id: string; pinned: boolean }> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    await this.requirePrivateVolume(name);
    try {
      await this.options.disks.setPinned(name, id, pinned);
    } catch (error) {
      throw diskFailure(`${pinned ? 'pinning' : 'unpinning'} checkpoint ${id} of VM ${name}`, error);
    }
    await this.mirrorCheckpoints(vm);
    return { name, id, pinned };
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
   * Records a task that changes the VM's checkpoints with `change`, then mirrors the new checkpoint list (and
   * private top) into the domain definition. A running VM is checkpointed live: `change` gets an overlay
   * creator that has QEMU switch to the new top (a disk-only external snapshot). A running VM is reverted by
   * cutting it off, reverting and starting it again, in the one task. A running VM's checkpoint is merged away
   * by QEMU: `change` gets a live merger (a libvirt block job, see disks/live-merge.ts). What cannot work is
   * refused before a task is recorded, and checked again when the task runs.
   */
  async changeCheckpointsAsTask<T>(
    tasks: TaskManager,
    kind: CheckpointChangeKind,
    name: string,
    requestedBy: AuditActor,
    change: (disks: DiskStore, live: OverlayCreator | null, liveMerge: LiveMerger | null) => Promise<T>,
  ): Promise<TaskRecord> {
    await this.requireCheckpointable(name);
    const { task, done } = tasks.start({ kind, target: name, requestedBy }, async (context) => {
      const client = requireLibvirt(this.options.host);
      let vm = await this.requireCheckpointable(name);
      const running = await this.isActive(client, vm.domain);
      // What a killed hostd left half-done on a running VM is finished first (also done when hostd connects):
      // a checkpoint QEMU had not switched to, a live delete QEMU was merging.
      if (running) {
        await this.switchToRecordedTop(name);
        await this.resumeLiveMerge(name);
      }
      if (running && kind === 'vm.revert') {
        context.reportProgress(0.05, `stopping VM ${name} to revert it`);
        await this.destroy(client, vm.domain, name);
        await this.reached('vm-revert:running-vm-cut-off');
        await this.afterStop(name);
        vm = await this.requireManaged(client, name);
      }
      context.reportProgress(0.1, `changing the disk chain of VM ${name}`);
      const result = await this.vmLocks.run(name, async () => {
        const live = running && kind === 'vm.checkpoint' ? await this.liveOverlayCreator(client, vm) : null;
        const liveMerge =
          running && kind === 'vm.checkpoint-delete' ? this.liveMerger(client, vm.domain) : null;
        try {
          return await change(this.options.disks, live, liveMerge);
        } catch (error) {
          throw diskFailure(`${kind} of VM ${name}`, error);
        }
      });
      context.reportProgress(0.5, 'recording the checkpoints in the domain definition');
      // A reverted VM comes back with new MACs: what its network saw before the revert cannot be tied to it.
      await this.mirrorCheckpoints(await this.requireManaged(client, name), {
        freshMacs: kind === 'vm.revert',
      });
      this.options.logger.info('VM checkpoints changed', { vm: name, verb: kind, live: running });
      if (running && kind === 'vm.revert') {
        await this.reached('vm-revert:reverted-before-restart');
        const started = await this.start(name, {
          signal: context.signal,
          reportProgress: (fraction, message) => context.reportProgress(0.5 + fraction / 2, message),
        });
        return { ...result, restarted: started };
      }
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

  /**
   * The live way to start a new top layer: libvirt makes the overlay file on the current top and has QEMU
   * write there from then on (a disk-only external snapshot of the private volume only, without libvirt
   * snapshot metadata: the disk store's manifest is the record).
   */
  private async liveOverlayCreator(client: LibvirtClient, vm: ManagedVm): Promise<OverlayCreator> {
    const name = vm.domain.name;
    let currentTop: string | null;
    try {
      currentTop = (await this.options.disks.diskPaths(name)).private;
    } catch (error) {
      throw diskFailure(`reading the disks of VM ${name}`, error);
    }
    const liveXml = await client.domainGetXmlDesc(vm.domain).catch((error: unknown) => {
      throw libvirtFailure(`reading running VM ${name}`, error);
    });
    const disks = readDiskSources(liveXml);
    const privateDisk = disks.find((disk) => disk.file === currentTop);
    if (currentTop === null || privateDisk === undefined) {
      throw new ServiceError(
        'conflict',
        'VM_DISKS_CHANGED',
        `running VM ${name} does not use the private volume hostd knows (${currentTop ?? 'none'})`,
        'stop it and start it again (hostd attaches the current layer at start), then checkpoint',
      );
    }
    const encryption = (
      await this.options.disks.layerChains(name).catch((error: unknown) => {
        throw diskFailure(`reading the disks of VM ${name}`, error);
      })
    ).encryption;
    return async ({ path, backingFile, sizeBytes, keyFile }) => {
      // libvirt would make an encrypted overlay with QEMU's 2 s key derivation, paid again at every start: hostd
      // makes it (100 ms, same key) and has libvirt reuse it (REUSE_EXT), telling it the key.
      if (encryption !== null) {
        if (keyFile === null)
          throw new Error(`the key of VM ${name}'s disks was not handed to the checkpoint`);
        await new QemuImg().createOverlay(path, backingFile, sizeBytes, { file: keyFile, depth: 0 });
        await this.reached('vm-checkpoint:encrypted-top-made');
      }
      try {
        await this.switchLiveDisk(client, vm.domain, disks, privateDisk, path, encryption);
      } catch (error) {
        // QEMU never switched to a file hostd made: gone, so the disk store undoes the checkpoint.
        if (encryption !== null) await rm(path, { force: true });
        throw error;
      }
      await this.reached('vm-checkpoint:live-snapshot-taken');
    };
  }

  /**
   * Has QEMU write into `path` from now on, on top of what `privateDisk` was: a disk-only external snapshot of
   * that one disk, without libvirt snapshot metadata (the disk store's manifest is the record). An encrypted
   * VM's new layer exists already (hostd made it) and is reused.
   */
  private async switchLiveDisk(
    client: LibvirtClient,
    domain: Domain,
    disks: readonly { target: string; file: string }[],
    privateDisk: { target: string; file: string },
    path: string,
    encryption: { secretUuid: string } | null,
  ): Promise<void> {
    const snapshot = renderXml(
      element(
        'domainsnapshot',
        {},
        element(
          'disks',
          {},
          ...disks.map((disk) =>
            disk === privateDisk
              ? element(
                  'disk',
                  { name: disk.target, snapshot: 'external', type: 'file' },
                  element('driver', { type: 'qcow2' }),
                  element(
                    'source',
                    { file: path },
                    encryption !== null && luksEncryptionElement(encryption.secretUuid),
                  ),
                )
              : element('disk', { name: disk.target, snapshot: 'no' }),
          ),
        ),
      ),
    );
    try {
      await client.domainSnapshotCreateXml(
        domain,
        snapshot,
        DomainSnapshotCreateFlags.DISK_ONLY |
          DomainSnapshotCreateFlags.NO_METADATA |
          DomainSnapshotCreateFlags.ATOMIC |
          (encryption === null ? 0 : DomainSnapshotCreateFlags.REUSE_EXT),
      );
    } catch (error) {
      throw libvirtFailure(`switching running VM ${domain.name} to a new layer`, error);
    }
  }

  /**
   * An encrypted VM's live checkpoint cut off after hostd made the new top but before QEMU switched to it: the
   * disk store finishes such a checkpoint at recovery (its top exists), while QEMU still writes the layer below.
   * Called for every running VM when hostd connects to libvirt: QEMU is switched to the recorded top now, so it
   * writes where the manifest says; the checkpoint then also holds what the guest wrote in between.
   */
  async switchToRecordedTop(name: string): Promise<void> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (!(await this.isActive(client, vm.domain)) || !(await this.diskVmNames()).includes(name)) return;
    await this.vmLocks.run(name, async () => {
      const chains = await this.options.disks.layerChains(name).catch((error: unknown) => {
        throw diskFailure(`reading the disks of VM ${name}`, error);
      });
      const [top, below] = chains.private ?? [];
      if (top === undefined || below === undefined) return;
      const liveXml = await client.domainGetXmlDesc(vm.domain).catch((error: unknown) => {
        throw libvirtFailure(`reading running VM ${name}`, error);
      });
      const disks = readDiskSources(liveXml);
      const writtenBelow = disks.find((disk) => disk.file === below);
      if (disks.some((disk) => disk.file === top) || writtenBelow === undefined) return;
      await this.switchLiveDisk(client, vm.domain, disks, writtenBelow, top, chains.encryption);
      this.options.logger.warn('switched a running VM to the top layer its cut-off checkpoint recorded', {
        vm: name,
        layer: top,
      });
    });
  }

  /** The live way to merge a checkpoint away: a libvirt block job (see live-merge-job.ts). */
  private liveMerger(client: LibvirtClient, domain: Domain): LiveMerger {
    return (merge) =>
      runLiveMergeJob(client, domain, merge, () => this.reached('vm-delete:merge-job-started'));
  }

  /**
   * Finishes a live checkpoint delete a killed hostd left to QEMU (called for every running VM when hostd
   * connects to libvirt); the checkpoint list is mirrored again afterwards.
   */
  async resumeLiveMerge(name: string): Promise<void> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    if (!(await this.isActive(client, vm.domain)) || !(await this.diskVmNames()).includes(name)) return;
    const resumed = await this.vmLocks.run(name, async () => {
      try {
        return await this.options.disks.resumeLiveMerge(name, this.liveMerger(client, vm.domain));
      } catch (error) {
        throw diskFailure(`finishing the interrupted checkpoint delete of VM ${name}`, error);
      }
    });
    if (!resumed) return;
    this.options.logger.warn('finished a checkpoint delete hostd was cut off from', { vm: name });
    await this.mirrorCheckpoints(await this.requireManaged(client, name));
  }

  private async reached(step: string): Promise<void> {
    if (this.options.onStep !== undefined) await this.options.onStep(step);
  }

  private async requireCheckpointable(name: string): Promise<ManagedVm> {
    const client = requireLibvirt(this.options.host);
    const vm = await this.requireManaged(client, name);
    await this.requirePrivateVolume(name);
    // Every change to an encrypted chain reads or writes layers with the key: refused before a task is made.
    this.requireDiskKeys(vm, 'unseal the vault, then retry');
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
  private async mirrorCheckpoints(
    vm: ManagedVm,
    identity: { readonly freshMacs?: boolean } = {},
  ): Promise<void> {
    try {
      const client = requireLibvirt(this.options.host);
      const template = await this.loadTemplate(vm.metadata.template);
      const image = await this.verifyVmImage(vm.metadata);
      const disks = await this.options.disks.diskPaths(vm.domain.name);
      const manifest = await this.options.disks.manifest(vm.domain.name);
      const checkpoints = manifest.private?.checkpoints ?? [];
      await this.redefine(client, vm, template, image, disks, checkpoints, undefined, identity);
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
      return await this.verifiedImages.verify(join(this.options.imagesDirectory, ref));
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
    if (metadata.host !== this.hostId) {
      throw new ServiceError(
        'conflict',
        'VM_NOT_MANAGED',
        `VM ${name} belongs to another hostd (host id ${metadata.host ?? 'not recorded'}, this one is ${this.hostId})`,
        'manage it from the hostd that made it; hostd only acts on its own VMs',
      );
    }
    return { domain, metadata, xml };
  }
}

/** A locally administered unicast address in QEMU's range, new for every VM so no two clones share one. */
function randomMac(): string {
  const tail = [...randomBytes(3)].map((byte) => byte.toString(16).padStart(2, '0'));
  return ['52', '54', '00', ...tail].join(':');
}

function declaresVolumes(template: VmTemplate): boolean {
  return (
    template.diskBytes.root !== null ||
    template.diskBytes.private !== null ||
    template.diskBytes.volatile !== null
  );
}

function notRunning(name: string): ServiceError {
  return new ServiceError('conflict', 'VM_NOT_RUNNING', `VM ${name} is not running`, 'nothing to stop');
}

/** The fallback for VM `name`: one per VM, replaced at its next failure. */
export function fallbackNameOf(name: string): string {
  return `fb-${name}`.slice(0, 32).replace(/-+$/, '');
}

/** Not for a fallback VM itself, nor for a disposable (a failed one is simply gone). */
/** The key an encrypted VM's domain names for its disks (every disk of a VM shares it); undefined: plain. */
function domainDiskSecret(vm: ManagedVm): string | undefined {
  return diskSecretUuidsOf(vm.xml)[0];
}

function wantsFallback(vm: ManagedVm): boolean {
  // The fallback attaches the failed VM's disks without their keys: encrypted ones it could not open.
  return (
    vm.metadata.role !== 'fallback' && !isDisposableInstance(vm) && diskSecretUuidsOf(vm.xml).length === 0
  );
}

/** A disposable made by `vm run` (named `disp-…`): deleted once it stops. */
export function isDisposableInstance(vm: ManagedVm): boolean {
  return vm.metadata.role === 'disposable' && DISPOSABLE_NAME_PATTERN.test(vm.domain.name);
}

function alreadyRunning(name: string): ServiceError {
  return new ServiceError(
    'conflict',
    'VM_ALREADY_RUNNING',
    `VM ${name} is already running`,
    'nothing to start',
  );
}
