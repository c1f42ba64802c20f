// Authentication before CONNECT_OPEN. libvirtd refuses to open a connection until the client has asked
// for the auth list, even when the only scheme on offer is "none".
import type { RpcConnection } from '../rpc/connection.js';
import { HostProcedures } from './host.js';
import { invoke } from './invoke.js';
import { RemoteAuthType } from './procedures.js';

/** libvirtd asks for an authentication scheme this client does not implement (SASL). */
export class UnsupportedAuthError extends Error {
  override readonly name = 'UnsupportedAuthError';
  readonly code = 'LIBVIRT_AUTH_UNSUPPORTED';
}

/** libvirtd refused this client (polkit said no). */
export class AuthFailedError extends Error {
  override readonly name = 'AuthFailedError';
  readonly code = 'LIBVIRT_AUTH_FAILED';
}

function schemeName(type: number): string {
  return (
    Object.entries(RemoteAuthType)
      .find(([, value]) => value === type)?.[0]
      .toLowerCase() ?? `type ${type}`
  );
}

/** Negotiates authentication on a fresh connection; returns the scheme used. */
export async function authenticate(rpc: RpcConnection, signal?: AbortSignal): Promise<'none' | 'polkit'> {
  const offered = await invoke(rpc, HostProcedures.authList, undefined, signal);
  if (offered.length === 0 || offered.includes(RemoteAuthType.NONE)) return 'none';
  if (offered.includes(RemoteAuthType.POLKIT)) {
    // polkit decides from the peer credentials of the unix socket; the call only asks for the verdict.
    const complete = await invoke(rpc, HostProcedures.authPolkit, undefined, signal);
    if (!complete)
      throw new AuthFailedError('libvirtd did not complete polkit authentication for this process');
    return 'polkit';
  }
  throw new UnsupportedAuthError(
    `libvirtd requires ${offered.map(schemeName).join(' or ')} authentication, which libvirt-ts does not implement; ` +
      'use the local unix socket with auth_unix_rw = "none" or "polkit", or TLS with client certificates and ' +
      'auth_tls = "none" in libvirtd.conf',
  );
}
