import { createHash } from 'node:crypto';

/**
 * The SOCKS username/password the bridge presents to tor for one connection. Tor's SocksPort isolates
 * streams by these (IsolateSOCKSAuth, on by default), so each distinct pair gets its own circuits:
 *
 * - the username names the bridge client, i.e. the socket the connection came in on, which the kernel
 *   only lets the socket file's owner open; a client cannot pick another client's name;
 * - the password holds this bridge's random nonce (two bridges on one tor never share circuits) and, if
 *   the client sent credentials of its own, a hash of them, so one client may split its traffic further
 *   without ever joining another client's circuits, and without its raw text reaching tor.
 */
export function torIsolationCredentials(
  bridgeNonce: string,
  clientName: string,
  clientCredentials?: { readonly username?: string; readonly password?: string },
): { username: string; password: string } {
  const username = `multiverse-bridge:${clientName}`;
  if (clientCredentials?.username === undefined && clientCredentials?.password === undefined) {
    return { username, password: bridgeNonce };
  }
  const subKey = createHash('sha256')
    .update(JSON.stringify([clientCredentials.username ?? '', clientCredentials.password ?? '']))
    .digest('hex')
    .slice(0, 32);
  return { username, password: `${bridgeNonce}:${subKey}` };
}
