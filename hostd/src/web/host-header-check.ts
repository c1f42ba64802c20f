import type { NextFunction, Request, Response } from 'express';

/**
 * Answers only requests addressed to an IP literal, `localhost` or an onion address. A page on another site
 * cannot use DNS rebinding (its name re-pointed at 127.0.0.1) to read or post to hostd as if it were
 * same-origin: its requests carry its own host name. An owner serving the UI under a DNS name puts a reverse
 * proxy in front that sends one of these.
 */
const ACCEPTED_HOST = /^(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\]|([a-z2-7]{56}\.onion))(:\d{1,5})?$/i;

export function hostHeaderCheck(request: Request, response: Response, next: NextFunction): void {
  const host = request.get('host') ?? '';
  if (ACCEPTED_HOST.test(host)) {
    next();
    return;
  }
  response
    .status(421)
    .type('text/plain')
    .send(
      'This host name is not served here: use the address hostd listens on (an IP address or its onion).\n',
    );
}
