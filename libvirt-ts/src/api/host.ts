// The connection and the host: opening and authenticating, versions, capabilities, node facts.
import {
  array,
  charArray,
  int,
  intBoolean,
  none,
  opaque,
  optionalString,
  remoteProcedure,
  string,
  struct,
  uhyper,
  uint,
} from './codec.js';
import { Procedure } from './procedures.js';

/** `REMOTE_AUTH_TYPE_LIST_MAX`. */
const AUTH_TYPE_LIST_MAX = 20;
/** `REMOTE_CPUMAP_MAX`. */
const CPUMAP_MAX = 2048;

/** A libvirt or hypervisor version, which libvirt encodes as major * 1,000,000 + minor * 1,000 + release. */
export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly release: number;
}

export function decodeVersion(encoded: bigint): Version {
  const value = Number(encoded);
  return {
    major: Math.floor(value / 1_000_000),
    minor: Math.floor(value / 1000) % 1000,
    release: value % 1000,
  };
}

export interface NodeInfo {
  /** CPU model, e.g. 'x86_64'. */
  readonly model: string;
  readonly memoryKiB: bigint;
  /** Active CPUs. */
  readonly cpus: number;
  readonly mhz: number;
  readonly nodes: number;
  readonly sockets: number;
  readonly cores: number;
  readonly threads: number;
}

export interface NodeCpuMap {
  /** CPUs present on the host; `online` has one entry per CPU. */
  readonly cpus: number;
  readonly onlineCount: number;
  readonly online: readonly boolean[];
}

/** Expands libvirt's CPU bitmap (bit n of byte n/8 is CPU n) to one boolean per CPU. */
export function decodeCpuMap(bitmap: Uint8Array, cpus: number): boolean[] {
  return Array.from({ length: cpus }, (_, cpu) => ((bitmap[cpu >> 3] ?? 0) & (1 << (cpu & 7))) !== 0);
}

export interface DomainCapabilitiesQuery {
  /** Path to the emulator, e.g. '/usr/bin/qemu-system-x86_64'; the default one when absent. */
  emulatorBin?: string;
  /** Guest architecture, e.g. 'x86_64'. */
  arch?: string;
  /** Machine type, e.g. 'q35'. */
  machine?: string;
  /** Virtualisation type: 'kvm' or 'qemu'. */
  virtType?: string;
}

export const HostProcedures = {
  authList: remoteProcedure(Procedure.AUTH_LIST, none, array(int, AUTH_TYPE_LIST_MAX)),
  authPolkit: remoteProcedure(Procedure.AUTH_POLKIT, none, intBoolean),
  open: remoteProcedure(Procedure.CONNECT_OPEN, struct({ name: optionalString, flags: uint }), none),
  close: remoteProcedure(Procedure.CONNECT_CLOSE, none, none),
  supportsFeature: remoteProcedure(Procedure.CONNECT_SUPPORTS_FEATURE, int, intBoolean),
  getVersion: remoteProcedure(Procedure.CONNECT_GET_VERSION, none, uhyper),
  getLibVersion: remoteProcedure(Procedure.CONNECT_GET_LIB_VERSION, none, uhyper),
  getHostname: remoteProcedure(Procedure.CONNECT_GET_HOSTNAME, none, string),
  getCapabilities: remoteProcedure(Procedure.CONNECT_GET_CAPABILITIES, none, string),
  getDomainCapabilities: remoteProcedure(
    Procedure.CONNECT_GET_DOMAIN_CAPABILITIES,
    struct({
      emulatorBin: optionalString,
      arch: optionalString,
      machine: optionalString,
      virtType: optionalString,
      flags: uint,
    }),
    string,
  ),
  nodeGetInfo: remoteProcedure(
    Procedure.NODE_GET_INFO,
    none,
    struct({
      model: charArray(32),
      memoryKiB: uhyper,
      cpus: int,
      mhz: int,
      nodes: int,
      sockets: int,
      cores: int,
      threads: int,
    }),
  ),
  nodeGetCpuMap: remoteProcedure(
    Procedure.NODE_GET_CPU_MAP,
    struct({ needMap: intBoolean, needOnline: intBoolean, flags: uint }),
    struct({ cpumap: opaque(CPUMAP_MAX), online: uint, cpus: int }),
  ),
};
