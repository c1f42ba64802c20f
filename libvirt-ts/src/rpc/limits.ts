// Size limits of libvirt's RPC layer, from `src/rpc/virnetprotocol.x`.

/** Size of the length word that starts every packet; the length counts itself. */
export const LENGTH_WORD_SIZE = 4;
/** Size of the serialised `virNetMessageHeader`. */
export const HEADER_SIZE = 24;
/** `VIR_NET_MESSAGE_MAX`: the largest header + payload libvirt sends or accepts. */
export const MAX_MESSAGE_SIZE = 16777216;
/** The largest whole packet, length word included. */
export const MAX_PACKET_SIZE = MAX_MESSAGE_SIZE + LENGTH_WORD_SIZE;
/**
 * `VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX`: libvirtd never sends more stream data than this per packet, and
 * older daemons reject more, so outgoing stream data is cut into pieces of this size.
 */
export const MAX_STREAM_CHUNK = 262144;
/** `VIR_NET_MESSAGE_STRING_MAX`: the bound on strings inside protocol-level structures such as errors. */
export const MESSAGE_STRING_MAX = 4194304;
