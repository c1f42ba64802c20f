import { createRequire } from 'node:module';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Logger } from '../log.js';
import type { HostService } from '../service/index.js';
import { ClientRateLimiter } from './client-rate-limiter.js';
import type { RateLimit } from './client-rate-limiter.js';
import { CsrfProtection } from './csrf-protection.js';
import { html } from './html-template.js';
import { hostHeaderCheck } from './host-header-check.js';
import { HTMX_SCRIPT_PATH, STYLESHEET_PATH, pageLayout } from './page-layout.js';
import { securityHeaders } from './security-headers.js';
import { UNSEAL_PATH, refusalPanel, unsealPageBody } from './unseal-view.js';
import { UNSEAL_FORM_MAX_BYTES, unsealRoutes } from './unseal-routes.js';
import { WEB_STYLESHEET } from './web-stylesheet.js';

/** Five shares at once (a few typos), then one every 20 s: plenty for custodians, little for a flood. */
export const DEFAULT_UNSEAL_RATE_LIMIT: RateLimit = { burst: 5, refillEveryMs: 20_000 };

export interface WebAppOptions {
  readonly service: HostService;
  readonly logger: Logger;
  readonly unsealRateLimit?: RateLimit;
}

const htmxScriptFile = createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js');

/**
 * hostd's web UI: server-rendered pages, htmx (served from our own install, never a CDN) for partial updates,
 * no inline script or style. Today it is the unseal page; the web VM manager (owner login) mounts its routes
 * here behind the same headers, host check and CSRF protection.
 */
export function createWebApp({ service, logger, unsealRateLimit }: WebAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(hostHeaderCheck);
  app.use(securityHeaders);

  app.get(STYLESHEET_PATH, (_request, response) => {
    response.set('Cache-Control', 'no-cache').type('text/css').send(WEB_STYLESHEET);
  });
  app.get(HTMX_SCRIPT_PATH, (_request, response, next) => {
    response.set('Cache-Control', 'no-cache');
    response.sendFile(htmxScriptFile, { dotfiles: 'deny' }, (error) => {
      if (error !== undefined) next(error);
    });
  });

  // Browsers ask for it on every page; there is none, and a 404 would be logged in every console.
  app.get('/favicon.ico', (_request, response) => response.status(204).end());
  app.get('/', (_request, response) => response.redirect(303, UNSEAL_PATH));
  app.use(
    unsealRoutes({
      service,
      csrf: new CsrfProtection(),
      limiter: new ClientRateLimiter(unsealRateLimit ?? DEFAULT_UNSEAL_RATE_LIMIT),
      logger,
    }),
  );

  app.use((_request, response) => {
    const body = html`<h1>Not found</h1>
      <p>There is no such page. <a href="${UNSEAL_PATH}">Unseal the vault</a></p>`;
    response.status(404).type('html').send(pageLayout('Not found', body).toString());
  });
  app.use((error: unknown, request: Request, response: Response, next: NextFunction) =>
    answerError(error, request, response, next, logger),
  );
  return app;
}

/** body-parser's refusals (too large, malformed) become readable pages; anything else is a logged 500. */
function answerError(
  error: unknown,
  request: Request,
  response: Response,
  next: NextFunction,
  logger: Logger,
): void {
  if (response.headersSent) {
    next(error);
    return;
  }
  const failure = error as { status?: unknown; type?: unknown; message?: unknown };
  let status = 500;
  let panel = refusalPanel('Something failed inside hostd.', 'Its log has the details; try again later.');
  if (failure.type === 'entity.too.large') {
    status = 413;
    panel = refusalPanel(
      'That is too much text for one share.',
      `A submission holds at most ${UNSEAL_FORM_MAX_BYTES / 1024} KiB: paste one share only.`,
    );
  } else if (typeof failure.status === 'number' && failure.status >= 400 && failure.status < 500) {
    status = failure.status;
    panel = refusalPanel('The request could not be read.', 'Reload the page and try again.');
  } else {
    logger.error('web request failed', { path: request.path, error: String(failure.message) });
  }
  const body = request.get('hx-request') === 'true' ? panel : pageLayout('Error', unsealPageBody(panel));
  response.status(status).type('html').send(body.toString());
}
