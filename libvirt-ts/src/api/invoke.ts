import type { RpcConnection } from '../rpc/connection.js';
import type { LibvirtStream } from '../rpc/stream.js';
import type { RemoteProcedure } from './codec.js';

/** Calls a remote procedure: encodes `args` with its argument codec, decodes the reply with its return codec. */
export function invoke<A, R>(
  rpc: RpcConnection,
  procedure: RemoteProcedure<A, R>,
  args: A,
  signal?: AbortSignal,
): Promise<R> {
  return rpc.call(
    procedure.procedure,
    (writer) => procedure.args.write(writer, args),
    (reader) => procedure.ret.read(reader),
    signal ? { signal } : {},
  );
}

/** Calls a procedure that opens a data stream (volume upload/download, console) and returns the stream. */
export async function invokeStream<A>(
  rpc: RpcConnection,
  procedure: RemoteProcedure<A, undefined>,
  args: A,
  signal?: AbortSignal,
): Promise<LibvirtStream> {
  const { stream } = await rpc.openStream(
    procedure.procedure,
    (writer) => procedure.args.write(writer, args),
    (reader) => procedure.ret.read(reader),
    signal ? { signal } : {},
  );
  return stream;
}
