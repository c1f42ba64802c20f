// The Tor control-port client.
export { TorControlClient } from './control/client.js';
export type {
  TorControlClientOptions,
  TorControlEndpoint,
  TorCredentials,
  TorConfigValue,
  TorSignal,
} from './control/client.js';
export { TorControlError } from './control/errors.js';
export type { TorControlErrorCode } from './control/errors.js';
export { parseTorEvent, parseBootstrapPhase, parseCircuitStatus, parseRelayName } from './control/events.js';
export type {
  TorEvent,
  TorEventName,
  BootstrapEvent,
  StatusEvent,
  CircuitEvent,
  CircuitStatus,
  StreamEvent,
  StreamStatus,
  HsDescriptorEvent,
  HsDescriptorAction,
  OtherEvent,
  RelayName,
} from './control/events.js';
export {
  generateOnionClientAuthKeyPair,
  isOnionServiceId,
  toOnionServiceId,
} from './control/onion-service.js';
export type {
  AddOnionFlag,
  AddOnionRequest,
  AddOnionResult,
  OnionClientAuthKeyPair,
  OnionPortMapping,
  OnionPortTarget,
} from './control/onion-service.js';
export type { ProtocolInfo, TorAuthMethod } from './control/protocol-info.js';
export type { ControlReply, ReplyLine, ReplyLineKind } from './control/reply-parser.js';

// The private Tor network for tests (this and other packages').
export { startTestTorNetwork } from './test-network/network.js';
export type {
  TestTorNetwork,
  TestTorNetworkOptions,
  TestTorClient,
  TestOnionService,
  AddTestOnionServiceOptions,
  StartTestClientOptions,
  TestTorNode,
} from './test-network/network.js';
export type { TestNodeRole, DirectoryAuthority } from './test-network/torrc.js';
export { TestTorNetworkError } from './test-network/errors.js';
export type { TestTorNetworkErrorCode } from './test-network/errors.js';
export { startLoopbackHttpServer, httpGetOverSocket } from './test-network/loopback-http.js';
export type { LoopbackHttpServer } from './test-network/loopback-http.js';
export { ONION_NOT_YET_REPLIES, dialOnionService, readFirstLine } from './test-network/onion-dial.js';
export type { OnionDialOptions, OnionDialOutcome } from './test-network/onion-dial.js';

// The userspace socket bridge, and the SOCKS5/HTTP CONNECT clients its tests and users need.
export { connectThroughSocks5, socks5Handshake } from './bridge/socks5-client.js';
export type { Socks5ConnectOptions, SocksProxyEndpoint } from './bridge/socks5-client.js';
export { Socks5Error } from './bridge/socks5-error.js';
export type { Socks5ErrorCode } from './bridge/socks5-error.js';

export { SocketBridge, SocketBridgeError } from './bridge/bridge.js';
export type {
  SocketBridgeOptions,
  SocketBridgeErrorCode,
  BridgeClient,
  BridgeClientOptions,
  BridgeConnectionRecord,
  BridgeProtocol,
} from './bridge/bridge.js';
export { SOCKS_REPLY, describeSocksReply } from './bridge/socks5-protocol.js';
export { httpConnectOverUnixSocket } from './bridge/http-connect-client.js';
export type { HttpConnectResponse } from './bridge/http-connect-client.js';

// The onion device: a veth pair whose traffic is torified (root).
export { OnionDevice } from './device/device.js';
export type { OnionDeviceStatus, OnionDeviceUpOptions } from './device/device.js';
export { DEFAULT_DEVICE_SUBNET, DEFAULT_VIRTUAL_ADDRESS_NETWORK } from './device/device-config.js';
export type { OnionDeviceOptions, OnionDeviceUpSettings } from './device/device-config.js';
export { OnionDeviceError } from './device/errors.js';
export type { OnionDeviceErrorCode } from './device/errors.js';
export type { DropCounterName, PacketCount } from './device/nft-ruleset.js';

// Test support for network namespaces (this and other packages' tests).
export { createTestNamespace, sweepAbandonedNamespaces } from './test-network/network-namespace.js';
export type { TestNetworkNamespace, NamespaceLink, ExecResult } from './test-network/network-namespace.js';
export { startPacketCapture } from './test-network/packet-capture.js';
export type { CapturedPacket, PacketCapture } from './test-network/packet-capture.js';

// Onion call-home: publishes hostd's doors as a v3 onion service with client authorization.
export { CallHome } from './callhome/callhome.js';
export type {
  CallHomeOptions,
  CallHomeState,
  CallHomeStatus,
  CallHomeNewClient,
} from './callhome/callhome.js';
export type { CallHomePort, CallHomeSettings } from './callhome/callhome-config.js';
export { formatClientAuthLine } from './callhome/client-credentials.js';
export type { CallHomeClient, CallHomeClientCredentials } from './callhome/client-credentials.js';
export { clientAuthQr, clientAuthQrPng } from './callhome/client-auth-qr.js';
export { CallHomeError } from './callhome/errors.js';
export type { CallHomeErrorCode } from './callhome/errors.js';
export { generateOnionServiceKey, onionServiceIdOf } from './callhome/service-key.js';
export type { OnionServiceKey, OnionServiceKeyStore } from './callhome/service-key.js';
export { MemoryOnionServiceKeyStore } from './callhome/memory-key-store.js';
