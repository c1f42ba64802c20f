import type { JailAuditEvent, JailAuditSink } from '@multiverse/jail-shell';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../log.js';
import { USER_NAME_PATTERN } from '../service/index.js';

const MAX_CLAIMED_NAME_LENGTH = 64;

/**
 * Every jail event becomes one row of hostd's audit log: action `jail.<event>` (`jail.auth.totp`…),
 * actor the user (via `ssh`) with their role once their key is verified, target the client's address,
 * result `ok` or `denied`. A name a stranger typed is not trusted as an actor name: when it is not a
 * well-formed one it is kept, cut short, in the details only.
 */
export function jailAuditSink(audit: AuditLog, logger: Logger): JailAuditSink {
  return (event: JailAuditEvent) => {
    const claimed = event.user;
    const wellFormed = claimed !== undefined && USER_NAME_PATTERN.test(claimed);
    try {
      audit.append({
        actor: { user: wellFormed ? claimed : '-', role: event.role ?? 'none', via: 'ssh' },
        action: `jail.${event.action}`,
        target: event.source,
        result: event.outcome === 'accepted' ? 'ok' : 'denied',
        details: {
          ...(event.detail === undefined ? {} : { detail: event.detail }),
          ...(claimed !== undefined && !wellFormed
            ? { claimedUser: claimed.slice(0, MAX_CLAIMED_NAME_LENGTH) }
            : {}),
        },
      });
    } catch (error) {
      logger.error('cannot write a jail event to the audit log', {
        action: event.action,
        error: (error as Error).message,
      });
    }
  };
}
