// Domains: the handle, its wire form `remote_nonnull_domain`, and the domain procedures' messages.
import {
  DomainBlockedReason,
  DomainCrashedReason,
  DomainNostateReason,
  DomainPausedReason,
  DomainPMSuspendedReason,
  DomainRunningReason,
  DomainShutdownReason,
  DomainShutoffReason,
  DomainState,
} from '../generated/enums.js';
import {
  array,
  int,
  intBoolean,
  none,
  optionalString,
  remoteProcedure,
  string,
  struct,
  uhyper,
  uint,
  uuid,
} from './codec.js';
import type { Codec } from './codec.js';
import { enumKey } from './enum-keys.js';
import { Procedure } from './procedures.js';
import { typedParameter } from './typed-params.js';
import type { TypedParameter } from './typed-params.js';
import { requireInt, requireName, requireRecord, requireUuid } from './validate.js';

/** A domain as libvirt identifies it. `id` is -1 while the domain is not running. */
export interface Domain {
  readonly name: string;
  readonly uuid: string;
  readonly id: number;
}

/** `remote_nonnull_domain`. */
export const domain: Codec<Domain> = struct({ name: string, uuid, id: int });

/** `REMOTE_DOMAIN_LIST_MAX`. */
export const DOMAIN_LIST_MAX = 16384;
/** `REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX`: parameters per domain in a stats record. */
export const DOMAIN_STATS_PARAMS_MAX = 262144;

/** Checks a Domain handle from a caller; libvirtd finds the domain by its UUID. */
export function requireDomain(value: unknown, what = 'domain'): Domain {
  const record = requireRecord(value, what);
  return {
    name: requireName(record['name'], `${what}.name`),
    uuid: requireUuid(record['uuid'], `${what}.uuid`),
    id: requireInt(record['id'], `${what}.id`),
  };
}

export interface DomainStateInfo {
  /** A {@link DomainState} value. */
  readonly state: number;
  /** Lower-case key of the state, e.g. 'running'; 'unknown' for states newer than this build. */
  readonly stateName: string;
  /** Why the domain is in its state: a value of the reason enum that goes with the state. */
  readonly reason: number;
  /** Lower-case key of the reason, e.g. 'booted' (state running) or 'destroyed' (state shutoff). */
  readonly reasonName: string;
}

const REASONS_BY_STATE: Readonly<Record<number, Readonly<Record<string, number>>>> = {
  [DomainState.NOSTATE]: DomainNostateReason,
  [DomainState.RUNNING]: DomainRunningReason,
  [DomainState.BLOCKED]: DomainBlockedReason,
  [DomainState.PAUSED]: DomainPausedReason,
  [DomainState.SHUTDOWN]: DomainShutdownReason,
  [DomainState.SHUTOFF]: DomainShutoffReason,
  [DomainState.CRASHED]: DomainCrashedReason,
  [DomainState.PMSUSPENDED]: DomainPMSuspendedReason,
};

export function describeDomainState(state: number, reason: number): DomainStateInfo {
  const reasons = REASONS_BY_STATE[state];
  return {
    state,
    stateName: enumKey(DomainState, state)?.toLowerCase() ?? 'unknown',
    reason,
    reasonName: (reasons && enumKey(reasons, reason)?.toLowerCase()) ?? 'unknown',
  };
}

export interface DomainInfo {
  /** A {@link DomainState} value. */
  readonly state: number;
  /** Lower-case key of the state, e.g. 'running'. */
  readonly stateName: string;
  readonly maxMemoryKiB: bigint;
  readonly memoryKiB: bigint;
  readonly virtualCpus: number;
  /** CPU time used, in nanoseconds. */
  readonly cpuTimeNs: bigint;
}

export interface DomainStatsRecord {
  readonly domain: Domain;
  /** Statistics as libvirt names them, e.g. 'state.state', 'balloon.current', 'vcpu.0.time'. */
  readonly params: TypedParameter[];
}

export interface BlockJobInfo {
  /** A DomainBlockJobType value: PULL, COPY, COMMIT, ACTIVE_COMMIT, ... */
  readonly type: number;
  /** Bandwidth limit in MiB/s (or bytes/s with VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES); 0 means none. */
  readonly bandwidth: bigint;
  /** Progress: `current` of `end` units done. */
  readonly current: bigint;
  readonly end: bigint;
}

const withFlags = struct({ domain, flags: uint });
const xmlWithFlags = struct({ xml: string, flags: uint });
const diskPath = { domain, path: string };

export const DomainProcedures = {
  lookupByName: remoteProcedure(Procedure.DOMAIN_LOOKUP_BY_NAME, string, domain),
  lookupByUuid: remoteProcedure(Procedure.DOMAIN_LOOKUP_BY_UUID, uuid, domain),
  lookupById: remoteProcedure(Procedure.DOMAIN_LOOKUP_BY_ID, int, domain),
  defineXml: remoteProcedure(Procedure.DOMAIN_DEFINE_XML_FLAGS, xmlWithFlags, domain),
  undefine: remoteProcedure(Procedure.DOMAIN_UNDEFINE_FLAGS, withFlags, none),
  create: remoteProcedure(Procedure.DOMAIN_CREATE_WITH_FLAGS, withFlags, domain),
  createXml: remoteProcedure(Procedure.DOMAIN_CREATE_XML, xmlWithFlags, domain),
  destroy: remoteProcedure(Procedure.DOMAIN_DESTROY_FLAGS, withFlags, none),
  shutdown: remoteProcedure(Procedure.DOMAIN_SHUTDOWN_FLAGS, withFlags, none),
  reboot: remoteProcedure(Procedure.DOMAIN_REBOOT, withFlags, none),
  suspend: remoteProcedure(Procedure.DOMAIN_SUSPEND, domain, none),
  resume: remoteProcedure(Procedure.DOMAIN_RESUME, domain, none),
  isActive: remoteProcedure(Procedure.DOMAIN_IS_ACTIVE, domain, intBoolean),
  getState: remoteProcedure(Procedure.DOMAIN_GET_STATE, withFlags, struct({ state: int, reason: int })),
  getInfo: remoteProcedure(
    Procedure.DOMAIN_GET_INFO,
    domain,
    // state is an `unsigned char` and nrVirtCpu an `unsigned short`: rpcgen sends both as four bytes.
    struct({ state: uint, maxMem: uhyper, memory: uhyper, nrVirtCpu: uint, cpuTime: uhyper }),
  ),
  getXmlDesc: remoteProcedure(Procedure.DOMAIN_GET_XML_DESC, withFlags, string),
  setAutostart: remoteProcedure(
    Procedure.DOMAIN_SET_AUTOSTART,
    struct({ domain, autostart: intBoolean }),
    none,
  ),
  getAutostart: remoteProcedure(Procedure.DOMAIN_GET_AUTOSTART, domain, intBoolean),
  listAll: remoteProcedure(
    Procedure.CONNECT_LIST_ALL_DOMAINS,
    struct({ needResults: intBoolean, flags: uint }),
    struct({ domains: array(domain, DOMAIN_LIST_MAX), count: uint }),
  ),
  getAllStats: remoteProcedure(
    Procedure.CONNECT_GET_ALL_DOMAIN_STATS,
    struct({ domains: array(domain, DOMAIN_LIST_MAX), stats: uint, flags: uint }),
    array(struct({ domain, params: array(typedParameter, DOMAIN_STATS_PARAMS_MAX) }), DOMAIN_LIST_MAX),
  ),
  openConsole: remoteProcedure(
    Procedure.DOMAIN_OPEN_CONSOLE,
    struct({ domain, device: optionalString, flags: uint }),
    none,
  ),
  blockJobAbort: remoteProcedure(
    Procedure.DOMAIN_BLOCK_JOB_ABORT,
    struct({ ...diskPath, flags: uint }),
    none,
  ),
  getBlockJobInfo: remoteProcedure(
    Procedure.DOMAIN_GET_BLOCK_JOB_INFO,
    struct({ ...diskPath, flags: uint }),
    struct({ found: intBoolean, type: int, bandwidth: uhyper, current: uhyper, end: uhyper }),
  ),
  blockPull: remoteProcedure(
    Procedure.DOMAIN_BLOCK_PULL,
    struct({ ...diskPath, bandwidth: uhyper, flags: uint }),
    none,
  ),
  blockRebase: remoteProcedure(
    Procedure.DOMAIN_BLOCK_REBASE,
    struct({ ...diskPath, base: optionalString, bandwidth: uhyper, flags: uint }),
    none,
  ),
  blockCommit: remoteProcedure(
    Procedure.DOMAIN_BLOCK_COMMIT,
    struct({
      domain,
      disk: string,
      base: optionalString,
      top: optionalString,
      bandwidth: uhyper,
      flags: uint,
    }),
    none,
  ),
};
