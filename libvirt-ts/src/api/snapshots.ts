// Domain snapshots: the handle, its wire form `remote_nonnull_domain_snapshot`, and the snapshot procedures.
import { array, int, intBoolean, none, remoteProcedure, string, struct, uint } from './codec.js';
import type { Codec } from './codec.js';
import { domain, requireDomain } from './domains.js';
import type { Domain } from './domains.js';
import { Procedure } from './procedures.js';
import { requireName, requireRecord } from './validate.js';

export interface DomainSnapshot {
  readonly name: string;
  readonly domain: Domain;
}

/** `remote_nonnull_domain_snapshot`. */
export const domainSnapshot: Codec<DomainSnapshot> = struct({ name: string, domain });

/** `REMOTE_DOMAIN_SNAPSHOT_LIST_MAX`. */
export const SNAPSHOT_LIST_MAX = 16384;

export function requireSnapshot(value: unknown, what = 'snapshot'): DomainSnapshot {
  const record = requireRecord(value, what);
  return {
    name: requireName(record['name'], `${what}.name`),
    domain: requireDomain(record['domain'], `${what}.domain`),
  };
}

const snapshotWithFlags = struct({ snapshot: domainSnapshot, flags: uint });
const domainWithFlags = struct({ domain, flags: uint });

export const SnapshotProcedures = {
  createXml: remoteProcedure(
    Procedure.DOMAIN_SNAPSHOT_CREATE_XML,
    struct({ domain, xml: string, flags: uint }),
    domainSnapshot,
  ),
  listAll: remoteProcedure(
    Procedure.DOMAIN_LIST_ALL_SNAPSHOTS,
    struct({ domain, needResults: intBoolean, flags: uint }),
    struct({ snapshots: array(domainSnapshot, SNAPSHOT_LIST_MAX), count: int }),
  ),
  lookupByName: remoteProcedure(
    Procedure.DOMAIN_SNAPSHOT_LOOKUP_BY_NAME,
    struct({ domain, name: string, flags: uint }),
    domainSnapshot,
  ),
  getXmlDesc: remoteProcedure(Procedure.DOMAIN_SNAPSHOT_GET_XML_DESC, snapshotWithFlags, string),
  revert: remoteProcedure(Procedure.DOMAIN_REVERT_TO_SNAPSHOT, snapshotWithFlags, none),
  delete: remoteProcedure(Procedure.DOMAIN_SNAPSHOT_DELETE, snapshotWithFlags, none),
  current: remoteProcedure(Procedure.DOMAIN_SNAPSHOT_CURRENT, domainWithFlags, domainSnapshot),
  hasCurrent: remoteProcedure(Procedure.DOMAIN_HAS_CURRENT_SNAPSHOT, domainWithFlags, intBoolean),
};
