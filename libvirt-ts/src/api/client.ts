import { EventEmitter } from 'node:events';
import type {
  ConnectGetAllDomainStatsFlags,
  ConnectListAllDomainsFlags,
  ConnectListAllNetworksFlags,
  ConnectListAllStoragePoolsFlags,
  DomainBlockCommitFlags,
  DomainBlockJobAbortFlags,
  DomainBlockJobInfoFlags,
  DomainBlockPullFlags,
  DomainBlockRebaseFlags,
  DomainConsoleFlags,
  DomainCreateFlags,
  DomainDefineFlags,
  DomainDestroyFlagsValues,
  DomainRebootFlagValues,
  DomainShutdownFlagValues,
  DomainSnapshotCreateFlags,
  DomainSnapshotDeleteFlags,
  DomainSnapshotListFlags,
  DomainSnapshotRevertFlags,
  DomainSnapshotXMLFlags,
  DomainStatsTypes,
  DomainUndefineFlagsValues,
  DomainXMLFlags,
  NetworkXMLFlags,
  SecretDefineFlags,
  StoragePoolBuildFlags,
  StoragePoolCreateFlags,
  StoragePoolDefineFlags,
  StorageVolCreateFlags,
  StorageVolDeleteFlags,
  StorageVolDownloadFlags,
  StorageVolUploadFlags,
} from '../generated/enums.js';
import { DomainEventID, ConnectFlags } from '../generated/enums.js';
import { RpcConnection } from '../rpc/connection.js';
import { ConnectionClosedError } from '../rpc/errors.js';
import type { KeepaliveOptions } from '../rpc/keepalive.js';
import { REMOTE_PROGRAM } from '../rpc/packet.js';
import type { LibvirtStream } from '../rpc/stream.js';
import { connectTransport, transportForUri } from '../rpc/transport.js';
import { authenticate } from './auth.js';
import type { RemoteProcedure } from './codec.js';
import { describeDomainState, DomainProcedures, requireDomain } from './domains.js';
import type { BlockJobInfo, Domain, DomainInfo, DomainStateInfo, DomainStatsRecord } from './domains.js';
import { EventStream } from './event-stream.js';
import type { EventStreamOptions, EventSubscription } from './event-stream.js';
import { EventProcedures, LifecycleEventRouter } from './events.js';
import type { DomainLifecycleEvent, DomainLifecycleListener } from './events.js';
import { decodeCpuMap, decodeVersion, HostProcedures } from './host.js';
import type { DomainCapabilitiesQuery, NodeCpuMap, NodeInfo, Version } from './host.js';
import { invoke, invokeStream } from './invoke.js';
import { NetworkProcedures, requireNetwork } from './networks.js';
import type { DhcpLease, Network } from './networks.js';
import { DriverFeature, Procedure } from './procedures.js';
import { requireSecret, SECRET_VALUE_MAX, SecretProcedures } from './secrets.js';
import type { Secret } from './secrets.js';
import { requireSnapshot, SnapshotProcedures } from './snapshots.js';
import type { DomainSnapshot } from './snapshots.js';
import { requireStoragePool, requireStorageVolume, StorageProcedures } from './storage.js';
import type { StoragePool, StoragePoolInfo, StorageVolume, StorageVolumeInfo } from './storage.js';
import {
  requireArray,
  requireBoolean,
  requireBytes,
  requireFlags,
  requireInt,
  requireName,
  requireOptionalName,
  requireString,
  requireUnsigned64,
  requireUuid,
  requireXml,
} from './validate.js';
import type { Flags } from './validate.js';

export interface ConnectOptions {
  /** Use this unix socket instead of the one the URI implies. */
  socketPath?: string;
  /** Open a read-only connection (VIR_CONNECT_RO) on the read-only socket. */
  readOnly?: boolean;
  /** Keepalive settings, or false to leave the connection without keepalive. Default: libvirt's 5 s × 5. */
  keepalive?: KeepaliveOptions | false;
  /** Abandons connecting when aborted. */
  signal?: AbortSignal;
}

export interface BlockCommitOptions {
  /** Image the data is committed into; the immediate backing file of `top` when absent. */
  base?: string;
  /** Topmost image to commit; the active layer when absent (needs DomainBlockCommitFlags.ACTIVE). */
  top?: string;
  /** Bandwidth limit in MiB/s (bytes/s with BANDWIDTH_BYTES); 0 for none. */
  bandwidth?: bigint | number;
  flags?: Flags<DomainBlockCommitFlags>;
}

export interface TransferRange {
  /** Where to start in the volume, in bytes. */
  offset?: bigint | number;
  /** How many bytes; 0 means up to the end of the volume. */
  length?: bigint | number;
}

/**
 * A connection to libvirtd with one typed method per libvirt API call. Objects (domains, networks, pools,
 * volumes, secrets, snapshots) are plain handles as libvirt returns them; pass them back to act on them.
 *
 * Events: `'close' (error?: ConnectionClosedError)` once, when the connection ends — without an argument
 * after `close()`.
 */
export class LibvirtClient extends EventEmitter {
  private readonly lifecycleRouter = new LifecycleEventRouter();
  /** Open event iterators, ended (or failed) when the connection closes. */
  private readonly eventStreams = new Set<Pick<EventStream<unknown>, 'end' | 'fail'>>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly rpc: RpcConnection,
    /** The URI this client was opened with. */
    readonly uri: string,
  ) {
    super();
    rpc.onMessage(REMOTE_PROGRAM, Procedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE, (reader) =>
      this.lifecycleRouter.handleMessage(reader),
    );
    rpc.once('close', (error?: ConnectionClosedError) => {
      this.lifecycleRouter.clear();
      for (const stream of [...this.eventStreams]) {
        if (error) stream.fail(error);
        else stream.end();
      }
      this.emit('close', error);
    });
  }

  /**
   * Connects to the libvirtd serving `uri` (local unix socket, tcp or tls), authenticates (none or polkit),
   * opens the URI and starts keepalive when the daemon supports it.
   */
  static async connect(uri = 'qemu:///system', options: ConnectOptions = {}): Promise<LibvirtClient> {
    const { signal } = options;
    const readOnly = options.readOnly === undefined ? false : requireBoolean(options.readOnly, 'readOnly');
    const { transport, remoteUri } = transportForUri(uri, {
      readOnly,
      ...(options.socketPath === undefined
        ? {}
        : { socketPath: requireName(options.socketPath, 'socketPath') }),
    });
    const rpc = new RpcConnection(await connectTransport(transport, signal));
    try {
      await authenticate(rpc, signal);
      await invoke(
        rpc,
        HostProcedures.open,
        { name: remoteUri, flags: readOnly ? ConnectFlags.RO : 0 },
        signal,
      );
      if (options.keepalive !== false) {
        const supported = await invoke(
          rpc,
          HostProcedures.supportsFeature,
          DriverFeature.PROGRAM_KEEPALIVE,
          signal,
        );
        if (supported) rpc.startKeepalive(options.keepalive ?? {});
      }
    } catch (error) {
      await rpc.close();
      throw error;
    }
    return new LibvirtClient(rpc, uri);
  }

  get closed(): boolean {
    return this.rpc.closed;
  }

  /** Tells the daemon (CONNECT_CLOSE) and closes the socket. Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.rpc.closed) {
        try {
          await this.call(HostProcedures.close, undefined);
        } catch {
          // The socket is closed next whatever the daemon said; there is nothing left to undo.
        }
      }
      await this.rpc.close();
    })();
    return this.closing;
  }

  private call<A, R>(procedure: RemoteProcedure<A, R>, args: A): Promise<R> {
    return invoke(this.rpc, procedure, args);
  }

  // ---- Connection and host ----

  /** Version of the hypervisor behind the connection (e.g. QEMU's). */
  async getVersion(): Promise<Version> {
    return decodeVersion(await this.call(HostProcedures.getVersion, undefined));
  }

  /** Version of libvirt in the daemon. */
  async getLibVersion(): Promise<Version> {
    return decodeVersion(await this.call(HostProcedures.getLibVersion, undefined));
  }

  async getHostname(): Promise<string> {
    return this.call(HostProcedures.getHostname, undefined);
  }

  /** The capabilities XML of the hypervisor. */
  async getCapabilities(): Promise<string> {
    return this.call(HostProcedures.getCapabilities, undefined);
  }

  /** The domain capabilities XML: what a domain of that emulator, arch, machine and type may use. */
  async getDomainCapabilities(query: DomainCapabilitiesQuery = {}, flags: Flags = 0): Promise<string> {
    return this.call(HostProcedures.getDomainCapabilities, {
      emulatorBin: requireOptionalName(query.emulatorBin, 'emulatorBin'),
      arch: requireOptionalName(query.arch, 'arch'),
      machine: requireOptionalName(query.machine, 'machine'),
      virtType: requireOptionalName(query.virtType, 'virtType'),
      flags: requireFlags(flags),
    });
  }

  async nodeGetInfo(): Promise<NodeInfo> {
    return this.call(HostProcedures.nodeGetInfo, undefined);
  }

  /** Which host CPUs exist and which are online. */
  async nodeGetCpuMap(): Promise<NodeCpuMap> {
    const reply = await this.call(HostProcedures.nodeGetCpuMap, {
      needMap: true,
      needOnline: true,
      flags: 0,
    });
    return { cpus: reply.cpus, onlineCount: reply.online, online: decodeCpuMap(reply.cpumap, reply.cpus) };
  }

  // ---- Domains ----

  async listAllDomains(flags: Flags<ConnectListAllDomainsFlags> = 0): Promise<Domain[]> {
    const reply = await this.call(DomainProcedures.listAll, {
      needResults: true,
      flags: requireFlags(flags),
    });
    return reply.domains;
  }

  async domainLookupByName(name: string): Promise<Domain> {
    return this.call(DomainProcedures.lookupByName, requireName(name, 'name'));
  }

  async domainLookupByUuid(uuid: string): Promise<Domain> {
    return this.call(DomainProcedures.lookupByUuid, requireUuid(uuid, 'uuid'));
  }

  /** Finds a running domain by its numeric id. */
  async domainLookupById(id: number): Promise<Domain> {
    return this.call(DomainProcedures.lookupById, requireInt(id, 'id', 0));
  }

  /** Defines (or redefines) a persistent domain from XML; it stays shut off. */
  async domainDefineXml(xml: string, flags: Flags<DomainDefineFlags> = 0): Promise<Domain> {
    return this.call(DomainProcedures.defineXml, { xml: requireXml(xml, 'xml'), flags: requireFlags(flags) });
  }

  async domainUndefine(domain: Domain, flags: Flags<DomainUndefineFlagsValues> = 0): Promise<void> {
    return this.call(DomainProcedures.undefine, {
      domain: requireDomain(domain),
      flags: requireFlags(flags),
    });
  }

  /** Starts a defined domain; returns it with its new id. */
  async domainCreate(domain: Domain, flags: Flags<DomainCreateFlags> = 0): Promise<Domain> {
    return this.call(DomainProcedures.create, { domain: requireDomain(domain), flags: requireFlags(flags) });
  }

  /** Creates and starts a transient domain from XML: it disappears when it stops. */
  async domainCreateXml(xml: string, flags: Flags<DomainCreateFlags> = 0): Promise<Domain> {
    return this.call(DomainProcedures.createXml, { xml: requireXml(xml, 'xml'), flags: requireFlags(flags) });
  }

  /** Stops a domain at once, like pulling the plug. */
  async domainDestroy(domain: Domain, flags: Flags<DomainDestroyFlagsValues> = 0): Promise<void> {
    return this.call(DomainProcedures.destroy, { domain: requireDomain(domain), flags: requireFlags(flags) });
  }

  /** Asks the guest to shut down (ACPI, agent, ... per flags); returns before it has. */
  async domainShutdown(domain: Domain, flags: Flags<DomainShutdownFlagValues> = 0): Promise<void> {
    return this.call(DomainProcedures.shutdown, {
      domain: requireDomain(domain),
      flags: requireFlags(flags),
    });
  }

  async domainReboot(domain: Domain, flags: Flags<DomainRebootFlagValues> = 0): Promise<void> {
    return this.call(DomainProcedures.reboot, { domain: requireDomain(domain), flags: requireFlags(flags) });
  }

  /** Pauses the domain's CPUs; memory stays allocated. */
  async domainSuspend(domain: Domain): Promise<void> {
    return this.call(DomainProcedures.suspend, requireDomain(domain));
  }

  async domainResume(domain: Domain): Promise<void> {
    return this.call(DomainProcedures.resume, requireDomain(domain));
  }

  async domainIsActive(domain: Domain): Promise<boolean> {
    return this.call(DomainProcedures.isActive, requireDomain(domain));
  }

  async domainGetState(domain: Domain): Promise<DomainStateInfo> {
    const { state, reason } = await this.call(DomainProcedures.getState, {
      domain: requireDomain(domain),
      flags: 0,
    });
    return describeDomainState(state, reason);
  }

  /** State, memory, vCPUs and CPU time. */
  async domainGetInfo(domain: Domain): Promise<DomainInfo> {
    const info = await this.call(DomainProcedures.getInfo, requireDomain(domain));
    const { state, stateName } = describeDomainState(info.state, 0);
    return {
      state,
      stateName,
      maxMemoryKiB: info.maxMem,
      memoryKiB: info.memory,
      virtualCpus: info.nrVirtCpu,
      cpuTimeNs: info.cpuTime,
    };
  }

  async domainGetXmlDesc(domain: Domain, flags: Flags<DomainXMLFlags> = 0): Promise<string> {
    return this.call(DomainProcedures.getXmlDesc, {
      domain: requireDomain(domain),
      flags: requireFlags(flags),
    });
  }

  async domainSetAutostart(domain: Domain, autostart: boolean): Promise<void> {
    return this.call(DomainProcedures.setAutostart, {
      domain: requireDomain(domain),
      autostart: requireBoolean(autostart, 'autostart'),
    });
  }

  async domainGetAutostart(domain: Domain): Promise<boolean> {
    return this.call(DomainProcedures.getAutostart, requireDomain(domain));
  }

  /**
   * Bulk statistics (CONNECT_GET_ALL_DOMAIN_STATS). With `domains` empty, every domain the flags select;
   * `stats` picks the groups (DomainStatsTypes bits; 0 for all the driver supports).
   */
  async getAllDomainStats(
    domains: readonly Domain[] = [],
    stats: Flags<DomainStatsTypes> = 0,
    flags: Flags<ConnectGetAllDomainStatsFlags> = 0,
  ): Promise<DomainStatsRecord[]> {
    return this.call(DomainProcedures.getAllStats, {
      domains: requireArray(domains, 'domains').map((item, index) =>
        requireDomain(item, `domains[${index}]`),
      ),
      stats: requireFlags(stats, 'stats'),
      flags: requireFlags(flags),
    });
  }

  /**
   * Opens the domain's console (or the serial/console device named by its alias) as a duplex stream of
   * raw terminal bytes. Destroy the stream to let go of the console.
   */
  async domainOpenConsole(
    domain: Domain,
    options: { device?: string; flags?: Flags<DomainConsoleFlags> } = {},
  ): Promise<LibvirtStream> {
    return invokeStream(this.rpc, DomainProcedures.openConsole, {
      domain: requireDomain(domain),
      device: requireOptionalName(options.device, 'device'),
      flags: requireFlags(options.flags),
    });
  }

  // ---- Block jobs ----

  /** Starts merging `top` (default: the active layer) down into `base` on the running domain's disk. */
  async domainBlockCommit(domain: Domain, disk: string, options: BlockCommitOptions = {}): Promise<void> {
    return this.call(DomainProcedures.blockCommit, {
      domain: requireDomain(domain),
      disk: requireName(disk, 'disk'),
      base: requireOptionalName(options.base, 'base'),
      top: requireOptionalName(options.top, 'top'),
      bandwidth: requireUnsigned64(options.bandwidth ?? 0, 'bandwidth'),
      flags: requireFlags(options.flags),
    });
  }

  /** The block job running on the disk (target name like 'vda', or source path), or null if none. */
  async domainGetBlockJobInfo(
    domain: Domain,
    disk: string,
    flags: Flags<DomainBlockJobInfoFlags> = 0,
  ): Promise<BlockJobInfo | null> {
    const reply = await this.call(DomainProcedures.getBlockJobInfo, {
      domain: requireDomain(domain),
      path: requireName(disk, 'disk'),
      flags: requireFlags(flags),
    });
    return reply.found
      ? { type: reply.type, bandwidth: reply.bandwidth, current: reply.current, end: reply.end }
      : null;
  }

  /** Cancels the disk's block job, or with PIVOT finishes a copy/active commit by switching to its result. */
  async domainBlockJobAbort(
    domain: Domain,
    disk: string,
    flags: Flags<DomainBlockJobAbortFlags> = 0,
  ): Promise<void> {
    return this.call(DomainProcedures.blockJobAbort, {
      domain: requireDomain(domain),
      path: requireName(disk, 'disk'),
      flags: requireFlags(flags),
    });
  }

  /** Starts copying the whole backing chain into the disk's active layer. */
  async domainBlockPull(
    domain: Domain,
    disk: string,
    bandwidth: bigint | number = 0,
    flags: Flags<DomainBlockPullFlags> = 0,
  ): Promise<void> {
    return this.call(DomainProcedures.blockPull, {
      domain: requireDomain(domain),
      path: requireName(disk, 'disk'),
      bandwidth: requireUnsigned64(bandwidth, 'bandwidth'),
      flags: requireFlags(flags),
    });
  }

  /** Starts pulling the chain above `base` (null: all of it) into the active layer, or a copy with COPY. */
  async domainBlockRebase(
    domain: Domain,
    disk: string,
    base: string | null,
    bandwidth: bigint | number = 0,
    flags: Flags<DomainBlockRebaseFlags> = 0,
  ): Promise<void> {
    return this.call(DomainProcedures.blockRebase, {
      domain: requireDomain(domain),
      path: requireName(disk, 'disk'),
      base: requireOptionalName(base, 'base'),
      bandwidth: requireUnsigned64(bandwidth, 'bandwidth'),
      flags: requireFlags(flags),
    });
  }

  // ---- Snapshots ----

  async domainSnapshotCreateXml(
    domain: Domain,
    xml: string,
    flags: Flags<DomainSnapshotCreateFlags> = 0,
  ): Promise<DomainSnapshot> {
    return this.call(SnapshotProcedures.createXml, {
      domain: requireDomain(domain),
      xml: requireXml(xml, 'xml'),
      flags: requireFlags(flags),
    });
  }

  async domainListAllSnapshots(
    domain: Domain,
    flags: Flags<DomainSnapshotListFlags> = 0,
  ): Promise<DomainSnapshot[]> {
    const reply = await this.call(SnapshotProcedures.listAll, {
      domain: requireDomain(domain),
      needResults: true,
      flags: requireFlags(flags),
    });
    return reply.snapshots;
  }

  async domainSnapshotLookupByName(domain: Domain, name: string): Promise<DomainSnapshot> {
    return this.call(SnapshotProcedures.lookupByName, {
      domain: requireDomain(domain),
      name: requireName(name, 'name'),
      flags: 0,
    });
  }

  async domainSnapshotGetXmlDesc(
    snapshot: DomainSnapshot,
    flags: Flags<DomainSnapshotXMLFlags> = 0,
  ): Promise<string> {
    return this.call(SnapshotProcedures.getXmlDesc, {
      snapshot: requireSnapshot(snapshot),
      flags: requireFlags(flags),
    });
  }

  async domainRevertToSnapshot(
    snapshot: DomainSnapshot,
    flags: Flags<DomainSnapshotRevertFlags> = 0,
  ): Promise<void> {
    return this.call(SnapshotProcedures.revert, {
      snapshot: requireSnapshot(snapshot),
      flags: requireFlags(flags),
    });
  }

  async domainSnapshotDelete(
    snapshot: DomainSnapshot,
    flags: Flags<DomainSnapshotDeleteFlags> = 0,
  ): Promise<void> {
    return this.call(SnapshotProcedures.delete, {
      snapshot: requireSnapshot(snapshot),
      flags: requireFlags(flags),
    });
  }

  /** The current snapshot; a LibvirtError VIR_ERR_NO_DOMAIN_SNAPSHOT when there is none. */
  async domainSnapshotCurrent(domain: Domain): Promise<DomainSnapshot> {
    return this.call(SnapshotProcedures.current, { domain: requireDomain(domain), flags: 0 });
  }

  async domainHasCurrentSnapshot(domain: Domain): Promise<boolean> {
    return this.call(SnapshotProcedures.hasCurrent, { domain: requireDomain(domain), flags: 0 });
  }

  // ---- Networks ----

  async listAllNetworks(flags: Flags<ConnectListAllNetworksFlags> = 0): Promise<Network[]> {
    const reply = await this.call(NetworkProcedures.listAll, {
      needResults: true,
      flags: requireFlags(flags),
    });
    return reply.networks;
  }

  async networkLookupByName(name: string): Promise<Network> {
    return this.call(NetworkProcedures.lookupByName, requireName(name, 'name'));
  }

  /** Defines a persistent network from XML; it stays inactive. */
  async networkDefineXml(xml: string): Promise<Network> {
    return this.call(NetworkProcedures.defineXml, requireXml(xml, 'xml'));
  }

  /** Starts a defined network. */
  async networkCreate(network: Network): Promise<void> {
    return this.call(NetworkProcedures.create, requireNetwork(network));
  }

  async networkDestroy(network: Network): Promise<void> {
    return this.call(NetworkProcedures.destroy, requireNetwork(network));
  }

  async networkUndefine(network: Network): Promise<void> {
    return this.call(NetworkProcedures.undefine, requireNetwork(network));
  }

  async networkIsActive(network: Network): Promise<boolean> {
    return this.call(NetworkProcedures.isActive, requireNetwork(network));
  }

  async networkGetXmlDesc(network: Network, flags: Flags<NetworkXMLFlags> = 0): Promise<string> {
    return this.call(NetworkProcedures.getXmlDesc, {
      network: requireNetwork(network),
      flags: requireFlags(flags),
    });
  }

  /** DHCP leases the network's dnsmasq handed out, all or only those of `mac`. */
  async networkGetDhcpLeases(network: Network, mac?: string): Promise<DhcpLease[]> {
    const reply = await this.call(NetworkProcedures.getDhcpLeases, {
      network: requireNetwork(network),
      mac: requireOptionalName(mac, 'mac'),
      needResults: true,
      flags: 0,
    });
    return reply.leases;
  }

  // ---- Storage pools ----

  async listAllStoragePools(flags: Flags<ConnectListAllStoragePoolsFlags> = 0): Promise<StoragePool[]> {
    const reply = await this.call(StorageProcedures.listAllPools, {
      needResults: true,
      flags: requireFlags(flags),
    });
    return reply.pools;
  }

  async storagePoolLookupByName(name: string): Promise<StoragePool> {
    return this.call(StorageProcedures.lookupPoolByName, requireName(name, 'name'));
  }

  /** Defines a persistent pool from XML; it stays inactive. */
  async storagePoolDefineXml(xml: string, flags: Flags<StoragePoolDefineFlags> = 0): Promise<StoragePool> {
    return this.call(StorageProcedures.definePoolXml, {
      xml: requireXml(xml, 'xml'),
      flags: requireFlags(flags),
    });
  }

  /** Creates and starts a transient pool from XML: it disappears when destroyed. */
  async storagePoolCreateXml(xml: string, flags: Flags<StoragePoolCreateFlags> = 0): Promise<StoragePool> {
    return this.call(StorageProcedures.createPoolXml, {
      xml: requireXml(xml, 'xml'),
      flags: requireFlags(flags),
    });
  }

  /** Prepares the pool's backing (e.g. creates a dir pool's directory). */
  async storagePoolBuild(pool: StoragePool, flags: Flags<StoragePoolBuildFlags> = 0): Promise<void> {
    return this.call(StorageProcedures.buildPool, {
      pool: requireStoragePool(pool),
      flags: requireFlags(flags),
    });
  }

  /** Starts a defined pool. */
  async storagePoolCreate(pool: StoragePool, flags: Flags<StoragePoolCreateFlags> = 0): Promise<void> {
    return this.call(StorageProcedures.createPool, {
      pool: requireStoragePool(pool),
      flags: requireFlags(flags),
    });
  }

  /** Stops the pool; its volumes stay on disk. */
  async storagePoolDestroy(pool: StoragePool): Promise<void> {
    return this.call(StorageProcedures.destroyPool, requireStoragePool(pool));
  }

  async storagePoolUndefine(pool: StoragePool): Promise<void> {
    return this.call(StorageProcedures.undefinePool, requireStoragePool(pool));
  }

  /** Rescans the pool's volumes. */
  async storagePoolRefresh(pool: StoragePool): Promise<void> {
    return this.call(StorageProcedures.refreshPool, { pool: requireStoragePool(pool), flags: 0 });
  }

  async storagePoolGetInfo(pool: StoragePool): Promise<StoragePoolInfo> {
    return this.call(StorageProcedures.getPoolInfo, requireStoragePool(pool));
  }

  // ---- Storage volumes ----

  async storagePoolListAllVolumes(pool: StoragePool): Promise<StorageVolume[]> {
    const reply = await this.call(StorageProcedures.listAllVolumes, {
      pool: requireStoragePool(pool),
      needResults: true,
      flags: 0,
    });
    return reply.volumes;
  }

  async storageVolLookupByName(pool: StoragePool, name: string): Promise<StorageVolume> {
    return this.call(StorageProcedures.lookupVolumeByName, {
      pool: requireStoragePool(pool),
      name: requireName(name, 'name'),
    });
  }

  async storageVolCreateXml(
    pool: StoragePool,
    xml: string,
    flags: Flags<StorageVolCreateFlags> = 0,
  ): Promise<StorageVolume> {
    return this.call(StorageProcedures.createVolumeXml, {
      pool: requireStoragePool(pool),
      xml: requireXml(xml, 'xml'),
      flags: requireFlags(flags),
    });
  }

  async storageVolDelete(volume: StorageVolume, flags: Flags<StorageVolDeleteFlags> = 0): Promise<void> {
    return this.call(StorageProcedures.deleteVolume, {
      volume: requireStorageVolume(volume),
      flags: requireFlags(flags),
    });
  }

  async storageVolGetInfo(volume: StorageVolume): Promise<StorageVolumeInfo> {
    return this.call(StorageProcedures.getVolumeInfo, requireStorageVolume(volume));
  }

  async storageVolGetPath(volume: StorageVolume): Promise<string> {
    return this.call(StorageProcedures.getVolumePath, requireStorageVolume(volume));
  }

  /**
   * Opens a stream that writes into the volume: write the bytes, then `end()` it; its 'finish' event
   * means libvirtd has written them all.
   */
  async storageVolUpload(
    volume: StorageVolume,
    range: TransferRange = {},
    flags: Flags<StorageVolUploadFlags> = 0,
  ): Promise<LibvirtStream> {
    return invokeStream(this.rpc, StorageProcedures.uploadVolume, this.transferArgs(volume, range, flags));
  }

  /** Opens a stream that reads the volume's bytes; it ends after the last one. */
  async storageVolDownload(
    volume: StorageVolume,
    range: TransferRange = {},
    flags: Flags<StorageVolDownloadFlags> = 0,
  ): Promise<LibvirtStream> {
    return invokeStream(this.rpc, StorageProcedures.downloadVolume, this.transferArgs(volume, range, flags));
  }

  private transferArgs(volume: StorageVolume, range: TransferRange, flags: Flags) {
    return {
      volume: requireStorageVolume(volume),
      offset: requireUnsigned64(range.offset ?? 0, 'offset'),
      length: requireUnsigned64(range.length ?? 0, 'length'),
      flags: requireFlags(flags),
    };
  }

  // ---- Secrets ----

  async secretDefineXml(xml: string, flags: Flags<SecretDefineFlags> = 0): Promise<Secret> {
    return this.call(SecretProcedures.defineXml, { xml: requireXml(xml, 'xml'), flags: requireFlags(flags) });
  }

  async secretSetValue(secret: Secret, value: Uint8Array): Promise<void> {
    return this.call(SecretProcedures.setValue, {
      secret: requireSecret(secret),
      value: requireBytes(value, 'value', SECRET_VALUE_MAX),
      flags: 0,
    });
  }

  /** The secret's value; libvirtd refuses for secrets defined with private='yes'. */
  async secretGetValue(secret: Secret): Promise<Buffer> {
    return Buffer.from(
      await this.call(SecretProcedures.getValue, { secret: requireSecret(secret), flags: 0 }),
    );
  }

  async secretUndefine(secret: Secret): Promise<void> {
    return this.call(SecretProcedures.undefine, requireSecret(secret));
  }

  async secretLookupByUuid(uuid: string): Promise<Secret> {
    return this.call(SecretProcedures.lookupByUuid, requireUuid(uuid, 'uuid'));
  }

  /** Finds a secret by what it is for: a SecretUsageType value and the usage's id (volume path, name, ...). */
  async secretLookupByUsage(usageType: number, usageId: string): Promise<Secret> {
    return this.call(SecretProcedures.lookupByUsage, {
      usageType: requireInt(usageType, 'usageType', 0),
      usageId: requireString(usageId, 'usageId'),
    });
  }

  // ---- Events ----

  /**
   * Calls `listener` for each lifecycle event (started, stopped, ...) of `options.domain`, or of every
   * domain. Resolves once libvirtd has registered it; `close()` the subscription to stop.
   */
  async onDomainLifecycle(
    listener: DomainLifecycleListener,
    options: { domain?: Domain } = {},
  ): Promise<EventSubscription> {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const filter = options.domain === undefined ? null : requireDomain(options.domain, 'options.domain');
    const callbackId = await this.lifecycleRouter.add(
      () => this.call(EventProcedures.register, { eventId: DomainEventID.LIFECYCLE, domain: filter }),
      listener,
    );
    let closing: Promise<void> | undefined;
    return {
      callbackId,
      close: () =>
        (closing ??= (async () => {
          this.lifecycleRouter.remove(callbackId);
          try {
            await this.call(EventProcedures.deregister, callbackId);
          } catch (error) {
            // A closed connection took the registration with it: nothing is left to deregister.
            if (!(error instanceof ConnectionClosedError)) throw error;
          }
        })()),
    };
  }

  /**
   * Lifecycle events as an async iterator: `for await (const event of client.domainLifecycleEvents())`.
   * Registration starts at once (await `.ready` to be sure it is in place before acting); leaving the
   * loop deregisters. The iteration ends when the client is closed and throws if the connection is lost.
   */
  domainLifecycleEvents(
    options: { domain?: Domain } & EventStreamOptions = {},
  ): EventStream<DomainLifecycleEvent> {
    const { domain, ...streamOptions } = options;
    const stream: EventStream<DomainLifecycleEvent> = new EventStream(
      (deliver) => this.onDomainLifecycle(deliver, domain === undefined ? {} : { domain }),
      streamOptions,
      () => this.eventStreams.delete(stream),
    );
    if (!stream.ended) this.eventStreams.add(stream);
    return stream;
  }
}
