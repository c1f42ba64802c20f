// Storage pools and volumes: the handles, their wire forms and the storage procedures' messages.
import { array, intBoolean, none, remoteProcedure, string, struct, uhyper, uint, uuid } from './codec.js';
import type { Codec } from './codec.js';
import { Procedure } from './procedures.js';
import { requireName, requireRecord, requireUuid } from './validate.js';

export interface StoragePool {
  readonly name: string;
  readonly uuid: string;
}

/** A volume is named by its pool and its name; `key` is its unique, driver-chosen identity (often its path). */
export interface StorageVolume {
  readonly pool: string;
  readonly name: string;
  readonly key: string;
}

/** `remote_nonnull_storage_pool`. */
export const storagePool: Codec<StoragePool> = struct({ name: string, uuid });
/** `remote_nonnull_storage_vol`. */
export const storageVolume: Codec<StorageVolume> = struct({ pool: string, name: string, key: string });

/** `REMOTE_STORAGE_POOL_LIST_MAX` and `REMOTE_STORAGE_VOL_LIST_MAX`. */
export const STORAGE_POOL_LIST_MAX = 16384;
export const STORAGE_VOL_LIST_MAX = 16384;

export function requireStoragePool(value: unknown, what = 'pool'): StoragePool {
  const record = requireRecord(value, what);
  return {
    name: requireName(record['name'], `${what}.name`),
    uuid: requireUuid(record['uuid'], `${what}.uuid`),
  };
}

export function requireStorageVolume(value: unknown, what = 'volume'): StorageVolume {
  const record = requireRecord(value, what);
  return {
    pool: requireName(record['pool'], `${what}.pool`),
    name: requireName(record['name'], `${what}.name`),
    key: requireName(record['key'], `${what}.key`),
  };
}

export interface StoragePoolInfo {
  /** A StoragePoolState value. */
  readonly state: number;
  readonly capacity: bigint;
  readonly allocation: bigint;
  readonly available: bigint;
}

export interface StorageVolumeInfo {
  /** A StorageVolType value. */
  readonly type: number;
  readonly capacity: bigint;
  readonly allocation: bigint;
}

const poolWithFlags = struct({ pool: storagePool, flags: uint });
const volumeWithFlags = struct({ volume: storageVolume, flags: uint });
const xmlWithFlags = struct({ xml: string, flags: uint });
const transfer = struct({ volume: storageVolume, offset: uhyper, length: uhyper, flags: uint });

export const StorageProcedures = {
  listAllPools: remoteProcedure(
    Procedure.CONNECT_LIST_ALL_STORAGE_POOLS,
    struct({ needResults: intBoolean, flags: uint }),
    struct({ pools: array(storagePool, STORAGE_POOL_LIST_MAX), count: uint }),
  ),
  lookupPoolByName: remoteProcedure(Procedure.STORAGE_POOL_LOOKUP_BY_NAME, string, storagePool),
  definePoolXml: remoteProcedure(Procedure.STORAGE_POOL_DEFINE_XML, xmlWithFlags, storagePool),
  createPoolXml: remoteProcedure(Procedure.STORAGE_POOL_CREATE_XML, xmlWithFlags, storagePool),
  buildPool: remoteProcedure(Procedure.STORAGE_POOL_BUILD, poolWithFlags, none),
  createPool: remoteProcedure(Procedure.STORAGE_POOL_CREATE, poolWithFlags, none),
  destroyPool: remoteProcedure(Procedure.STORAGE_POOL_DESTROY, storagePool, none),
  undefinePool: remoteProcedure(Procedure.STORAGE_POOL_UNDEFINE, storagePool, none),
  refreshPool: remoteProcedure(Procedure.STORAGE_POOL_REFRESH, poolWithFlags, none),
  getPoolInfo: remoteProcedure(
    Procedure.STORAGE_POOL_GET_INFO,
    storagePool,
    // `unsigned char state`, widened to four bytes by rpcgen.
    struct({ state: uint, capacity: uhyper, allocation: uhyper, available: uhyper }),
  ),
  listAllVolumes: remoteProcedure(
    Procedure.STORAGE_POOL_LIST_ALL_VOLUMES,
    struct({ pool: storagePool, needResults: intBoolean, flags: uint }),
    struct({ volumes: array(storageVolume, STORAGE_VOL_LIST_MAX), count: uint }),
  ),
  lookupVolumeByName: remoteProcedure(
    Procedure.STORAGE_VOL_LOOKUP_BY_NAME,
    struct({ pool: storagePool, name: string }),
    storageVolume,
  ),
  createVolumeXml: remoteProcedure(
    Procedure.STORAGE_VOL_CREATE_XML,
    struct({ pool: storagePool, xml: string, flags: uint }),
    storageVolume,
  ),
  deleteVolume: remoteProcedure(Procedure.STORAGE_VOL_DELETE, volumeWithFlags, none),
  getVolumeInfo: remoteProcedure(
    Procedure.STORAGE_VOL_GET_INFO,
    storageVolume,
    // `char type`, widened to four bytes by rpcgen.
    struct({ type: uint, capacity: uhyper, allocation: uhyper }),
  ),
  getVolumePath: remoteProcedure(Procedure.STORAGE_VOL_GET_PATH, storageVolume, string),
  uploadVolume: remoteProcedure(Procedure.STORAGE_VOL_UPLOAD, transfer, none),
  downloadVolume: remoteProcedure(Procedure.STORAGE_VOL_DOWNLOAD, transfer, none),
};
