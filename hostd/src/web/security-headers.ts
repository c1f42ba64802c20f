import type { NextFunction, Request, Response } from 'express';

/**
 * Nothing runs but our own files: no inline script or style (htmx's injected indicator style is turned off in
 * the page's htmx-config), no eval, no plugins, no framing, forms post only to us.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Every response: the CSP above, no MIME sniffing, no Referer to anywhere, no framing (also for browsers
 * without frame-ancestors), a window of our own, and nothing stored — pages show vault state and take shares.
 * Static assets override Cache-Control themselves. No HSTS: the listener is plain HTTP (loopback, onion).
 */
export function securityHeaders(_request: Request, response: Response, next: NextFunction): void {
  response.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), clipboard-read=()',
    'Cache-Control': 'no-store',
  });
  next();
}
