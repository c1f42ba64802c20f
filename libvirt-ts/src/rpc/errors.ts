import { ERROR_DOMAIN_NAMES, ERROR_NUMBER_NAMES } from '../generated/enums.js';
import type { XdrReader } from '../xdr/index.js';
import { MESSAGE_STRING_MAX } from './limits.js';

/** The decoded `virNetMessageError` that libvirtd sends with every failed call or stream. */
export interface RemoteErrorFields {
  /** `virErrorNumber`, e.g. 42 for VIR_ERR_NO_DOMAIN. */
  code: number;
  /** `virErrorDomain`: the libvirt subsystem that raised it, e.g. 10 for VIR_FROM_QEMU. */
  domain: number;
  message: string | null;
  /** `virErrorLevel`: 1 warning, 2 error. */
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}

/** A call or stream that libvirtd answered with an error. Its fields are libvirt's own numbers. */
export class LibvirtError extends Error {
  override readonly name = 'LibvirtError';
  readonly code: number;
  /** libvirt's name of `code`, e.g. 'VIR_ERR_NO_DOMAIN'; undefined for codes newer than libvirt-api.xml here. */
  readonly codeName: string | undefined;
  readonly domain: number;
  /** libvirt's name of `domain`, e.g. 'VIR_FROM_QEMU'. */
  readonly domainName: string | undefined;
  readonly level: number;
  /** The daemon's own text, without anything added on this side. */
  readonly libvirtMessage: string;
  readonly str1: string | null;
  readonly str2: string | null;
  readonly str3: string | null;
  readonly int1: number;
  readonly int2: number;

  constructor(fields: RemoteErrorFields) {
    super(
      fields.message ?? `libvirt error ${fields.code} from domain ${fields.domain}, sent without a message`,
    );
    this.code = fields.code;
    this.codeName = ERROR_NUMBER_NAMES[fields.code];
    this.domain = fields.domain;
    this.domainName = ERROR_DOMAIN_NAMES[fields.domain];
    this.level = fields.level;
    this.libvirtMessage = fields.message ?? '';
    this.str1 = fields.str1;
    this.str2 = fields.str2;
    this.str3 = fields.str3;
    this.int1 = fields.int1;
    this.int2 = fields.int2;
  }
}

/** Why a connection ended; carried by every {@link ConnectionClosedError} it causes. */
export type CloseReason =
  /** `close()` was called on this side. */
  | 'closed-locally'
  /** The daemon ended the connection, or the socket failed. */
  | 'peer-closed'
  /** Keepalive pings went unanswered: the daemon or the network is gone. */
  | 'keepalive-timeout'
  /** The daemon sent bytes that are not valid libvirt RPC; the stream cannot be resynchronised. */
  | 'protocol-error';

/** A call, stream or send could not finish because its connection closed. Open a new connection to retry. */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
  readonly code = 'LIBVIRT_CONNECTION_CLOSED';
  readonly reason: CloseReason;

  constructor(reason: CloseReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** The peer broke the wire protocol: malformed or oversized packet, bad XDR, unexpected message. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code = 'LIBVIRT_PROTOCOL';
}

/** The connection URI cannot be served by this client; the message says which part and why. */
export class InvalidUriError extends Error {
  override readonly name = 'InvalidUriError';
  readonly code = 'LIBVIRT_INVALID_URI';
}

/** The socket to libvirtd could not be opened or secured; `cause` holds the system error. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly code = 'LIBVIRT_TRANSPORT';
}

function readUuid(reader: XdrReader): void {
  reader.readFixedOpaque(16);
}

/** Decodes a `virNetMessageError` body. Malformed input throws `XdrDecodeError`. */
export function readRemoteError(reader: XdrReader): LibvirtError {
  const readOptionalString = (): string | null =>
    reader.readOptional((r) => r.readString(MESSAGE_STRING_MAX));
  const code = reader.readInt();
  const domain = reader.readInt();
  const message = readOptionalString();
  const level = reader.readInt();
  // `dom` and `net` are unused by libvirt but still on the wire; skip them.
  reader.readOptional((r) => {
    r.readString(MESSAGE_STRING_MAX);
    readUuid(r);
    r.readInt();
  });
  const str1 = readOptionalString();
  const str2 = readOptionalString();
  const str3 = readOptionalString();
  const int1 = reader.readInt();
  const int2 = reader.readInt();
  reader.readOptional((r) => {
    r.readString(MESSAGE_STRING_MAX);
    readUuid(r);
  });
  return new LibvirtError({ code, domain, message, level, str1, str2, str3, int1, int2 });
}
