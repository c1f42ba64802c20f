// Public entry of libvirt-ts: the typed client, the RPC layer under it, and libvirt's generated enums.
export { LibvirtClient } from './api/client.js';
export type { ConnectOptions, BlockCommitOptions, TransferRange } from './api/client.js';
export type { Domain, DomainInfo, DomainStateInfo, DomainStatsRecord, BlockJobInfo } from './api/domains.js';
export type { DomainSnapshot } from './api/snapshots.js';
export type { Network, DhcpLease } from './api/networks.js';
export type { StoragePool, StorageVolume, StoragePoolInfo, StorageVolumeInfo } from './api/storage.js';
export type { Secret } from './api/secrets.js';
export type { Version, NodeInfo, NodeCpuMap, DomainCapabilitiesQuery } from './api/host.js';
export type {
  DomainLifecycleEvent,
  DomainLifecycleEventName,
  DomainLifecycleListener,
} from './api/events.js';
export { EventStream, EventOverflowError } from './api/event-stream.js';
export type { EventSubscription, EventStreamOptions } from './api/event-stream.js';
export { typedParamsToObject } from './api/typed-params.js';
export type { TypedParameter, TypedParameterValue } from './api/typed-params.js';
export { InvalidArgumentError } from './api/validate.js';
export type { Flags } from './api/validate.js';
export { UnsupportedAuthError, AuthFailedError } from './api/auth.js';
export { isUuid } from './api/uuid.js';
export { enumKey } from './api/enum-keys.js';
export { Procedure } from './api/procedures.js';
export * from './generated/enums.js';

export {
  REMOTE_PROGRAM,
  KEEPALIVE_PROGRAM,
  PROTOCOL_VERSION,
  MessageType,
  MessageStatus,
  encodePacket,
  PacketDecoder,
} from './rpc/packet.js';
export type { Packet, PacketHeader, PacketDecoderOptions } from './rpc/packet.js';
export {
  LibvirtError,
  ConnectionClosedError,
  ProtocolError,
  InvalidUriError,
  TransportError,
  readRemoteError,
} from './rpc/errors.js';
export type { RemoteErrorFields, CloseReason } from './rpc/errors.js';
export {
  transportForUri,
  connectTransport,
  SYSTEM_SOCKET,
  SYSTEM_READ_ONLY_SOCKET,
} from './rpc/transport.js';
export type { TransportOptions, UriOverrides } from './rpc/transport.js';
export { RpcConnection } from './rpc/connection.js';
export type { CallOptions, ConnectionOptions, MessageHandler } from './rpc/connection.js';
export { LibvirtStream } from './rpc/stream.js';
export { KeepaliveProcedure } from './rpc/keepalive.js';
export type { KeepaliveOptions } from './rpc/keepalive.js';
export { XdrWriter, XdrReader, XdrDecodeError } from './xdr/index.js';
