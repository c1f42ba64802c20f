import { ConnectionClosedError, LibvirtError } from '@multiverse/libvirt-ts';
import type { LibvirtClient } from '@multiverse/libvirt-ts';
import { ServiceError } from './service-error.js';
import type { HostFacts } from './verb.js';

const RECONNECT_HINT =
  'hostd reconnects on its own; if this lasts, check that libvirtd runs (scripts/start-libvirt.sh) and read hostd’s log';

export function requireLibvirt(host: HostFacts): LibvirtClient {
  const client = host.libvirt();
  if (client === undefined) {
    throw new ServiceError(
      'unavailable',
      'LIBVIRT_UNAVAILABLE',
      `hostd is not connected to libvirtd (${host.status().libvirtUri}) right now`,
      RECONNECT_HINT,
    );
  }
  return client;
}

/** A libvirt failure as a service error that keeps libvirt's own name and text; other errors pass through. */
export function libvirtFailure(what: string, error: unknown): unknown {
  if (error instanceof ConnectionClosedError) {
    return new ServiceError(
      'unavailable',
      'LIBVIRT_UNAVAILABLE',
      `${what} failed: the connection to libvirtd closed (${error.reason})`,
      RECONNECT_HINT,
      { cause: error },
    );
  }
  if (error instanceof LibvirtError) {
    return new ServiceError(
      'upstream',
      'LIBVIRT_CALL_FAILED',
      `${what} failed in libvirt: ${error.codeName ?? `error ${error.code}`}: ${error.libvirtMessage}`,
      'read libvirtd’s log for the cause; retry once it is fixed',
      { cause: error },
    );
  }
  return error;
}
