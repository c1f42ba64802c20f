import { chmod, mkdir, readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LibvirtClient } from '@multiverse/libvirt-ts';
import { shippedTemplatesDirectory } from '@multiverse/vm-templates';
import { probeAccelerator } from './accelerator-probe.js';
import type { AcceleratorDecision } from './accelerator-probe.js';
import { API_SOCKET_FILE, ApiServer, refuseIfAnotherHostdAnswers } from './api/index.js';
import { AuditLog } from './audit/index.js';
import { DiskStore } from './disks/index.js';
import { crashTestPauseFromEnvironment } from './disks/crash-test-pause.js';
import type { HostdConfig } from './config.js';
import { writeFileDurably } from './durable-fs.js';
import { loadOrCreateHostId } from './host-id.js';
import { LibvirtSession } from './libvirt-session.js';
import type { Logger } from './log.js';
import { HostService } from './service/index.js';
import { openStateDatabase } from './state/index.js';
import type { StateDatabase } from './state/index.js';
import { TaskManager } from './tasks/index.js';
import { DiskSecrets, VaultService, VmDiskKeys } from './vault/index.js';
import { JailFrontDoor } from './jail/index.js';
import { HostOnion } from './onion/index.js';
import { WebServer } from './web/index.js';
import { Disposables, StopReconciler, VmEngine } from './vm-engine/index.js';

/**
 * libvirt runs QEMU as an unprivileged user (libvirt-qemu), which must reach the guest images under
 * `<stateDir>/images`: others may traverse the state directory but not list it, and every file in it that
 * holds state (the database, the accelerator verdict) has its own owner-only mode.
 */
const STATE_DIRECTORY_MODE = 0o711;
/** Image directories and files are world-readable by design: content-addressed, read-only, no secrets. */
const IMAGES_DIRECTORY_MODE = 0o755;

/** How long running tasks get to notice the stop signal before hostd exits without them. */
const TASK_SHUTDOWN_GRACE_MS = 5000;

/** What hostd tells about itself in `<runDir>/hostd.status.json` (read by scripts/up.sh and, later, `mvctl host info`). */
export interface HostdStatus {
  pid: number;
  startedAt: string;
  libvirtUri: string;
  connected: boolean;
  hypervisorVersion?: string;
  libvirtVersion?: string;
  hostname?: string;
  accelerator?: AcceleratorDecision;
  /** Where the web UI answers, once it listens (its unseal page today). */
  webAddress?: string;
}

export class HostDaemon {
  private readonly session: LibvirtSession;
  private accelerator: AcceleratorDecision | undefined;
  private readonly status: HostdStatus;
  private state: StateDatabase | undefined;
  private tasks: TaskManager | undefined;
  private api: ApiServer | undefined;
  private stops: StopReconciler | undefined;
  private disposables: Disposables | undefined;
  private vault: VaultService | undefined;
  private jail: JailFrontDoor | undefined;
  private onion: HostOnion | undefined;
  private web: WebServer | undefined;
  private diskSecrets: DiskSecrets | undefined;
  /** The service layer every front end calls; set once start() has opened the state database. */
  service: HostService | undefined;

  private get imagesDirectory(): string {
    return this.config.imagesDir ?? join(this.config.stateDir, 'images');
  }

  constructor(
    private readonly config: HostdConfig,
    private readonly logger: Logger,
  ) {
    this.session = new LibvirtSession({ uri: config.libvirtUri, logger: logger.child('libvirt') });
    this.status = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      libvirtUri: config.libvirtUri,
      connected: false,
    };
    this.session.on('connected', (client: LibvirtClient) => void this.onConnected(client));
    this.session.on('disconnected', () => {
      this.status.connected = false;
      void this.publishStatus();
    });
  }

  async start(): Promise<void> {
    await mkdir(this.config.runDir, { recursive: true, mode: 0o755 });
    await mkdir(this.config.stateDir, { recursive: true, mode: STATE_DIRECTORY_MODE });
    // Also for a directory an older hostd made 0700: QEMU could not reach the images under it.
    await chmod(this.config.stateDir, STATE_DIRECTORY_MODE);
    await mkdir(this.imagesDirectory, { recursive: true, mode: IMAGES_DIRECTORY_MODE });
    const socketPath = join(this.config.runDir, API_SOCKET_FILE);
    await refuseIfAnotherHostdAnswers(socketPath);
    await this.startOnion();
    this.state = openStateDatabase(this.config.stateDir);
    const audit = new AuditLog(this.state.db);
    this.tasks = new TaskManager(this.state.db, audit);
    for (const task of this.tasks.recoverInterrupted()) {
      this.logger.warn('a task was cut off when hostd stopped; marked failed', {
        task: task.id,
        kind: task.kind,
        target: task.target,
      });
    }
    // qcow2 base images (for VMs with a root volume) and the VMs' volumes, apart from the kernel-boot images.
    // Test-only (crash tests): undefined unless MULTIVERSE_DISKS_PAUSE_AT is set.
    const crashTestPause = crashTestPauseFromEnvironment(process.env);
    const disks = new DiskStore({
      imagesDir: join(this.config.stateDir, 'disk-images'),
      vmsDir: join(this.config.stateDir, 'vms'),
      maxChainDepth: this.config.maxChainDepth,
      logger: this.logger.child('disks'),
      ...(crashTestPause === undefined ? {} : { onStep: crashTestPause.reached }),
    });
    // Each recovery is logged by the store; after this no VM's chain is half-changed.
    await disks.recoverAll();
    crashTestPause?.arm();
    // The vault opens sealed (a damaged file is reported by `vault status`, hostd runs on without it); libvirt
    // holds the LUKS disk keys only while it is unsealed.
    this.vault = new VaultService({
      directory: join(this.config.stateDir, 'vault'),
      autoSealAfterSeconds: this.config.vaultAutoSealSeconds,
      logger: this.logger.child('vault'),
    });
    await this.vault.open();
    this.diskSecrets = new DiskSecrets({
      vault: this.vault,
      libvirt: () => this.session.current,
      recordPath: join(this.vault.directory, 'libvirt-secrets.json'),
      logger: this.logger.child('vault'),
    });
    this.vault.addFollower(this.diskSecrets);
    // Encrypted VMs' keys: from here on the disk store can touch their layers (while the vault is unsealed).
    const diskKeys = new VmDiskKeys({
      vault: this.vault,
      secrets: this.diskSecrets,
      logger: this.logger.child('vault'),
    });
    disks.useKeys(diskKeys);
    const host = { status: () => this.status, libvirt: () => this.session.current };
    const vms = new VmEngine({
      host,
      // VMs behind the onion device ("router: onion") get their link from hostd's tor side.
      ...(this.onion === undefined ? {} : { onionLinks: this.onion.vmLinks }),
      hostId: await loadOrCreateHostId(this.config.stateDir),
      imagesDirectory: this.imagesDirectory,
      imageCacheDirectory: join(this.config.stateDir, 'image-cache'),
      templatesDirectory: this.config.templatesDir ?? shippedTemplatesDirectory(),
      disks,
      diskKeys,
      logger: this.logger.child('vm'),
      ...(crashTestPause === undefined ? {} : { onStep: crashTestPause.reached }),
    });
    this.stops = new StopReconciler(vms, this.logger.child('vm'));
    this.disposables = new Disposables({
      engine: vms,
      host,
      tasks: this.tasks,
      logger: this.logger.child('disposables'),
      poolSizes: this.config.disposablePool,
    });
    this.jail = this.openJail(audit);
    this.service = new HostService({
      host,
      audit,
      tasks: this.tasks,
      vms,
      disposables: this.disposables,
      vault: this.vault,
      ...(this.jail === undefined ? {} : { jail: this.jail }),
      ...(this.onion === undefined ? {} : { onion: this.onion }),
      logger: this.logger.child('service'),
    });
    await this.publishStatus();
    this.api = new ApiServer(this.service, this.logger.child('api'));
    await this.api.listen(socketPath);
    await this.startJailListener(this.service);
    await this.startWebListener(this.service);
    this.session.start();
  }

  /** The jail's user store; hostd runs on without it (the `user` verbs then say so) rather than not at all. */
  private openJail(audit: AuditLog): JailFrontDoor | undefined {
    try {
      return JailFrontDoor.open({
        stateDir: this.config.stateDir,
        runDir: this.config.runDir,
        audit,
        logger: this.logger.child('jail'),
      });
    } catch (error) {
      this.logger.error('the SSH jail’s user store cannot open; no jail', {
        error: (error as Error).message,
      });
      return undefined;
    }
  }

  /**
   * Early, so tor bootstraps while the rest of hostd starts (call-home is how the owner reaches a host behind
   * NAT). Like the jail, a failure is logged, not fatal: the callhome/onion verbs then say so.
   */
  private async startOnion(): Promise<void> {
    try {
      const onion = new HostOnion(
        {
          stateDir: this.config.stateDir,
          runDir: this.config.runDir,
          tor: this.config.tor,
          torrcExtraPath: this.config.torrcExtraPath,
          jailListen: this.config.jailListen,
        },
        this.logger.child('onion'),
      );
      await onion.start();
      this.onion = onion;
    } catch (error) {
      this.logger.error('tor, call-home and onion0 cannot start; hostd runs without them', {
        error: (error as Error).message,
      });
    }
  }

  /** Local management must not depend on the remote door: a jail that cannot listen is logged, not fatal. */
  private async startJailListener(service: HostService): Promise<void> {
    const address = this.config.jailListen;
    if (this.jail === undefined || address === null) return;
    try {
      await this.jail.listen(address, service);
    } catch (error) {
      this.logger.error('the SSH jail cannot start; hostd runs without it', {
        address: `${address.host}:${address.port}`,
        error: (error as Error).message,
      });
    }
  }

  /** Like the jail: a web UI that cannot listen (port taken) is logged; hostd and mvctl run on without it. */
  private async startWebListener(service: HostService): Promise<void> {
    const address = this.config.webListen;
    if (address === null) return;
    const web = new WebServer({ service, logger: this.logger.child('web') });
    try {
      const bound = await web.listen(address);
      this.web = web;
      const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      this.status.webAddress = `http://${host}:${bound.port}/`;
      await this.publishStatus();
    } catch (error) {
      this.logger.error('the web UI cannot start; hostd runs without it', {
        address: `${address.host}:${address.port}`,
        error: (error as Error).message,
      });
    }
  }

  async stop(): Promise<void> {
    // The onion service leads to the jail: withdrawn first.
    await this.onion?.stop();
    // Jail sessions call the service: they end first.
    await this.jail?.close();
    await this.web?.close();
    await this.api?.close();
    await this.tasks?.shutdown(TASK_SHUTDOWN_GRACE_MS);
    // Sealing takes the disk keys back from libvirt, so it runs while the connection is still up.
    await this.vault?.close();
    await this.session.stop();
    this.state?.close();
  }

  private async onConnected(client: LibvirtClient): Promise<void> {
    try {
      const [hypervisor, library, hostname] = await Promise.all([
        client.getVersion(),
        client.getLibVersion(),
        client.getHostname(),
      ]);
      Object.assign(this.status, {
        connected: true,
        hypervisorVersion: `${hypervisor.major}.${hypervisor.minor}.${hypervisor.release}`,
        libvirtVersion: `${library.major}.${library.minor}.${library.release}`,
        hostname,
      });
      this.logger.info('connected to libvirtd', {
        uri: this.config.libvirtUri,
        hypervisor: this.status.hypervisorVersion,
        libvirt: this.status.libvirtVersion,
        hostname,
      });
      this.accelerator ??= await this.decideAccelerator(client, this.status.hypervisorVersion ?? 'unknown');
      this.status.accelerator = this.accelerator;
      await this.publishStatus();
      // A restarted libvirtd lost the ephemeral disk secrets; a hostd that died unsealed left some behind.
      await this.diskSecrets?.libvirtConnected();
      // VMs may have stopped while hostd or libvirtd was down: clean up after them, then refill the pools.
      await this.stops?.attach(client);
      this.disposables?.refillAll();
    } catch (error) {
      this.logger.error('setting up the libvirt connection failed', { error: (error as Error).message });
    }
  }

  private async decideAccelerator(
    client: LibvirtClient,
    hypervisorVersion: string,
  ): Promise<AcceleratorDecision> {
    const { accelerator } = this.config;
    const decision =
      accelerator === 'auto'
        ? await this.probeOrReuse(client, hypervisorVersion)
        : { accelerator, reason: `forced by MULTIVERSE_ACCELERATOR=${accelerator}` };
    if (decision.accelerator === 'kvm') {
      this.logger.info('KVM works: domains run with hardware virtualization', { reason: decision.reason });
    } else {
      this.logger.warn(
        'KVM does not run guests here: every domain uses TCG (software emulation, much slower)',
        {
          reason: decision.reason,
        },
      );
    }
    return decision;
  }

  /**
   * The probe boots a guest (up to ~10 s when KVM hangs), so its verdict is kept and reused until the host
   * kernel, QEMU or the presence of /dev/kvm changes — the things that decide whether KVM can run guests.
   */
  private async probeOrReuse(client: LibvirtClient, hypervisorVersion: string): Promise<AcceleratorDecision> {
    const cachePath = join(this.config.stateDir, 'accelerator.json');
    const hostKey = `kernel=${release()} qemu=${hypervisorVersion} kvm-device=${existsSync('/dev/kvm')}`;
    try {
      const cached = JSON.parse(await readFile(cachePath, 'utf8')) as {
        hostKey?: unknown;
        decision?: AcceleratorDecision;
      };
      if (cached.hostKey === hostKey && cached.decision) {
        return {
          ...cached.decision,
          reason: `${cached.decision.reason} (probed earlier on this host: ${hostKey})`,
        };
      }
    } catch {
      // No verdict yet, or an unreadable one: probe again.
    }
    const decision = await probeAccelerator(client, { workDir: join(this.config.runDir, 'probe') });
    await writeFileDurably(cachePath, JSON.stringify({ hostKey, decision }, null, 2) + '\n', 0o600);
    return decision;
  }

  private async publishStatus(): Promise<void> {
    await writeFileDurably(
      join(this.config.runDir, 'hostd.status.json'),
      JSON.stringify(this.status, null, 2) + '\n',
    );
  }
}
