import { z } from 'zod';
import type { AuditEntry, AuditVerification } from '../audit/index.js';
import { defineVerb } from './verb.js';

export const auditVerbs = {
  'audit.list': defineVerb({
    summary: 'the newest audit entries (before a sequence number, to page back), oldest first',
    input: z.strictObject({
      limit: z.number().int().min(1).max(1000).default(50),
      beforeSeq: z.number().int().min(1).optional(),
    }),
    target: () => 'audit',
    run: ({ audit }, input): Promise<{ entries: AuditEntry[] }> =>
      Promise.resolve({ entries: audit.list({ limit: input.limit, beforeSeq: input.beforeSeq }) }),
  }),
  'audit.verify': defineVerb({
    summary:
      'recompute the audit hash chain and name the first bad row; with an anchor (seq + hash noted earlier), ' +
      'also prove the log was not cut short or rewritten since',
    input: z.strictObject({
      anchor: z
        .strictObject({
          seq: z.number().int().min(1),
          hash: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hash: 64 lowercase hex digits'),
        })
        .optional(),
    }),
    target: () => 'audit',
    run: ({ audit }, input): Promise<AuditVerification> =>
      Promise.resolve(audit.verify({ anchor: input.anchor })),
  }),
};
