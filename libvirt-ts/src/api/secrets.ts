// Secrets: the handle, its wire form `remote_nonnull_secret`, and the secret procedures' messages.
import { int, none, opaque, remoteProcedure, string, struct, uint, uuid } from './codec.js';
import type { Codec } from './codec.js';
import { Procedure } from './procedures.js';
import { requireInt, requireRecord, requireString, requireUuid } from './validate.js';

export interface Secret {
  readonly uuid: string;
  /** A SecretUsageType value: what the secret is for (VOLUME, CEPH, ISCSI, TLS, VTPM) or NONE. */
  readonly usageType: number;
  /** The usage's identifier, e.g. a volume path or a TLS name; empty for usage type NONE. */
  readonly usageId: string;
}

/** `remote_nonnull_secret`. */
export const secret: Codec<Secret> = struct({ uuid, usageType: int, usageId: string });

/** `REMOTE_SECRET_VALUE_MAX`. */
export const SECRET_VALUE_MAX = 65536;

export function requireSecret(value: unknown, what = 'secret'): Secret {
  const record = requireRecord(value, what);
  return {
    uuid: requireUuid(record['uuid'], `${what}.uuid`),
    usageType: requireInt(record['usageType'], `${what}.usageType`, 0),
    usageId: requireString(record['usageId'], `${what}.usageId`),
  };
}

const secretWithFlags = struct({ secret, flags: uint });

export const SecretProcedures = {
  defineXml: remoteProcedure(Procedure.SECRET_DEFINE_XML, struct({ xml: string, flags: uint }), secret),
  setValue: remoteProcedure(
    Procedure.SECRET_SET_VALUE,
    struct({ secret, value: opaque(SECRET_VALUE_MAX), flags: uint }),
    none,
  ),
  getValue: remoteProcedure(Procedure.SECRET_GET_VALUE, secretWithFlags, opaque(SECRET_VALUE_MAX)),
  undefine: remoteProcedure(Procedure.SECRET_UNDEFINE, secret, none),
  lookupByUuid: remoteProcedure(Procedure.SECRET_LOOKUP_BY_UUID, uuid, secret),
  lookupByUsage: remoteProcedure(
    Procedure.SECRET_LOOKUP_BY_USAGE,
    struct({ usageType: int, usageId: string }),
    secret,
  ),
};
