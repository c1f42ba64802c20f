import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

export const CSRF_COOKIE = 'mv_csrf';
export const CSRF_FIELD = 'csrf';

/** Why a POST was refused as a possible cross-site request; shown to the user with what to do. */
export type CsrfRefusal = 'cross-site' | 'missing-token' | 'bad-token';

/**
 * Signed double-submit tokens. The page gets a token in a SameSite=Strict, HttpOnly cookie and the same token
 * in a hidden form field; a POST must carry both, equal, and the token must bear hostd's HMAC.
 *
 * Why not an Origin check: the pages send `Referrer-Policy: no-referrer`, and under that policy browsers send
 * `Origin: null` on same-origin form posts and fetches, so Origin cannot tell our page from another site.
 * Fetch metadata (`Sec-Fetch-Site`) is sent only to secure origins and the web listener is plain HTTP on
 * loopback or behind an onion service — it is checked when present, as a second fence.
 * Why signed: a plain double-submit is beaten by anyone who can plant a cookie (a sibling host over plain HTTP);
 * they cannot mint a token hostd signed. The key lives in memory: after a hostd restart a page must be reloaded.
 * The coming login adds the session id to what is signed.
 */
export class CsrfProtection {
  readonly #key: Buffer;

  constructor(key: Buffer = randomBytes(32)) {
    this.#key = key;
  }

  /** The token for this response: the request's own if valid, else a new one set as the cookie. */
  tokenFor(request: Request, response: Response): string {
    const current = cookieValue(request, CSRF_COOKIE);
    if (current !== undefined && this.#signedByUs(current)) return current;
    const nonce = randomBytes(18).toString('base64url');
    const token = `${nonce}.${this.#sign(nonce)}`;
    response.cookie(CSRF_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/' });
    return token;
  }

  /** Null when the POST is ours; else why not. Needs the body parsed (the field is in the form). */
  refusal(request: Request): CsrfRefusal | null {
    const site = request.get('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return 'cross-site';
    const cookie = cookieValue(request, CSRF_COOKIE);
    const body: unknown = request.body;
    const field =
      typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[CSRF_FIELD] : undefined;
    if (cookie === undefined || typeof field !== 'string' || field === '') return 'missing-token';
    if (!this.#signedByUs(cookie) || !sameText(cookie, field)) return 'bad-token';
    return null;
  }

  #sign(nonce: string): string {
    return createHmac('sha256', this.#key).update(`multiverse-web-csrf:${nonce}`).digest('base64url');
  }

  #signedByUs(token: string): boolean {
    const dot = token.indexOf('.');
    if (dot <= 0) return false;
    return sameText(token.slice(dot + 1), this.#sign(token.slice(0, dot)));
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** One cookie's value from the Cookie header; express leaves cookies unparsed and this is all we read. */
function cookieValue(request: Request, name: string): string | undefined {
  const header = request.get('cookie');
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const split = pair.indexOf('=');
    if (split !== -1 && pair.slice(0, split).trim() === name) return pair.slice(split + 1).trim();
  }
  return undefined;
}
