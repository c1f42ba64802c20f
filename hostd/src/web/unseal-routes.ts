import express from 'express';
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { ServiceError, describeInputProblems } from '../service/index.js';
import type { Actor, HostService } from '../service/index.js';
import { HTTP_STATUS_BY_KIND } from '../api/index.js';
import type { VaultStatusReport } from '../vault/index.js';
import type { ClientRateLimiter } from './client-rate-limiter.js';
import { CSRF_FIELD } from './csrf-protection.js';
import type { CsrfProtection } from './csrf-protection.js';
import type { SafeHtml } from './html-template.js';
import { pageLayout } from './page-layout.js';
import { SHARE_FIELD, UNSEAL_PATH, refusalPanel, unsealPageBody, unsealPanel } from './unseal-view.js';
import type { SubmissionResult } from './unseal-view.js';
import { clientAddress } from './client-address.js';

/**
 * Who submits a share through the web page. Nobody logs in to unseal (as with Vault's unseal: the share is the
 * credential, and nothing unseals without the threshold of real ones), so the actor is fixed: role operator,
 * the lowest that may unseal, via web. These routes call only `vault.status` and `vault.unseal` with it; the
 * client's address goes into each audit row.
 */
export const WEB_CUSTODIAN_ACTOR: Actor = { user: 'custodian', role: 'operator', via: 'web' };

/** A share's text is ~0.5 KiB; the form (token, share, comments) fits well within this. */
export const UNSEAL_FORM_MAX_BYTES = 16 * 1024;
const SHARE_TEXT_MAX_CHARS = 8 * 1024;

const submissionSchema = z.object({
  [CSRF_FIELD]: z.string(),
  [SHARE_FIELD]: z
    .string({ message: 'paste your share' })
    .max(SHARE_TEXT_MAX_CHARS, { message: `at most ${SHARE_TEXT_MAX_CHARS} characters: paste one share` })
    .refine((text) => text.trim() !== '', { message: 'paste your share' }),
});

export interface UnsealRoutesOptions {
  readonly service: HostService;
  readonly csrf: CsrfProtection;
  readonly limiter: ClientRateLimiter;
  readonly logger: Logger;
}

/** GET shows the vault and the form; POST takes one share through `vault.unseal`, as mvctl and the jail do. */
export function unsealRoutes({ service, csrf, limiter, logger }: UnsealRoutesOptions): Router {
  const router = express.Router();

  const readStatus = (request: Request): Promise<VaultStatusReport> =>
    service.call(WEB_CUSTODIAN_ACTOR, 'vault.status', {}, { client: clientAddress(request) });

  const answer = (request: Request, response: Response, status: number, panel: SafeHtml): void => {
    // htmx swaps the panel alone; a browser without script gets the whole page back.
    const body = request.get('hx-request') === 'true' ? panel : pageLayout('Unseal', unsealPageBody(panel));
    response.status(status).type('html').send(body.toString());
  };

  const answerWithStatus = async (
    request: Request,
    response: Response,
    httpStatus: number,
    result?: SubmissionResult,
  ): Promise<void> => {
    let panel: SafeHtml;
    try {
      const status = await readStatus(request);
      const csrfToken = csrf.tokenFor(request, response);
      panel = unsealPanel({ status, csrfToken, ...(result === undefined ? {} : { result }) });
    } catch (error) {
      const failure = asServiceError(error);
      panel = refusalPanel('The vault cannot be read.', `${failure.message} (${failure.code})`);
      httpStatus = HTTP_STATUS_BY_KIND[failure.kind];
    }
    answer(request, response, httpStatus, panel);
  };

  router.get(UNSEAL_PATH, (request, response) => answerWithStatus(request, response, 200));

  router.post(
    UNSEAL_PATH,
    // Cheapest refusal first: a client over its allowance is not even read.
    (request, response, next) => {
      const waitMs = limiter.take(clientAddress(request));
      if (waitMs === 0) {
        next();
        return;
      }
      const seconds = Math.ceil(waitMs / 1000);
      logger.warn('unseal submissions rate-limited', { client: clientAddress(request) });
      response.set('Retry-After', String(seconds));
      answer(
        request,
        response,
        429,
        refusalPanel('Too many submissions from your address.', `Wait ${seconds} s and try again.`),
      );
      request.resume();
    },
    express.urlencoded({ extended: false, limit: UNSEAL_FORM_MAX_BYTES, parameterLimit: 10 }),
    async (request, response) => {
      const refusal = csrf.refusal(request);
      if (refusal !== null) {
        logger.warn('unseal submission refused as cross-site', { client: clientAddress(request), refusal });
        answer(
          request,
          response,
          403,
          refusalPanel(
            'This submission did not come from the unseal page, or the page is out of date.',
            'Reload the page and paste the share again.',
          ),
        );
        return;
      }
      const parsed = submissionSchema.safeParse(request.body);
      if (!parsed.success) {
        await answerWithStatus(request, response, 400, {
          kind: 'refused',
          code: 'INPUT_INVALID',
          message: describeInputProblems(parsed.error),
          hint: 'paste the whole share as printed, then submit',
        });
        return;
      }
      try {
        const outcome = await service.call(
          WEB_CUSTODIAN_ACTOR,
          'vault.unseal',
          { share: parsed.data[SHARE_FIELD] },
          { client: clientAddress(request) },
        );
        await answerWithStatus(request, response, 200, { kind: 'accepted', outcome });
      } catch (error) {
        const failure = asServiceError(error);
        await answerWithStatus(request, response, HTTP_STATUS_BY_KIND[failure.kind], {
          kind: 'refused',
          code: failure.code,
          message: failure.message,
          hint: failure.hint,
        });
      }
    },
  );

  return router;
}

function asServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  return new ServiceError(
    'internal',
    'INTERNAL_ERROR',
    `the web page failed: ${error instanceof Error ? error.message : String(error)}`,
    'this is a bug in hostd: its log has the details; please report it',
  );
}
