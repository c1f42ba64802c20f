import type { z } from 'zod';
import type { AuditActor, AuditLog } from '../audit/index.js';
import type { Logger } from '../log.js';
import type { TaskManager } from '../tasks/index.js';
import { Disposables } from '../vm-engine/index.js';
import type { VmEngine } from '../vm-engine/index.js';
import type { VaultService } from '../vault/index.js';
import type { JailUserAdministration } from '../jail/index.js';
import type { HostOnion } from '../onion/index.js';
import { actorSchema } from './actor.js';
import type { Actor } from './actor.js';
import { isAllowed } from './policy.js';
import { ServiceError } from './service-error.js';
import { VERBS, isVerbName } from './verb-table.js';
import type { VerbName, VerbOutput } from './verb-table.js';
import type { HostFacts, Verb } from './verb.js';

export interface HostServiceDependencies {
  readonly host: HostFacts;
  readonly audit: AuditLog;
  readonly tasks: TaskManager;
  readonly vms: VmEngine;
  /** Disposable VMs; without it, `vm run` boots each on demand (no preloaded pool). */
  readonly disposables?: Disposables;
  /** The vault; without it the vault verbs answer VAULT_UNAVAILABLE. */
  readonly vault?: VaultService;
  /** hostd's tor, call-home and onion devices; without it their verbs answer ONION_UNAVAILABLE. */
  readonly onion?: HostOnion;
  /** The SSH jail's users; without it the user verbs answer JAIL_UNAVAILABLE. */
  readonly jail?: JailUserAdministration;
  readonly logger: Logger;
}

/** Where a call came from, beyond the actor: the client address a network front end saw (`127.0.0.1`). */
export interface CallOrigin {
  readonly client?: string;
}

/** `field: problem; field: problem`, the way every front end shows invalid input. */
export function describeInputProblems(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length === 0 ? 'input' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}

/**
 * The one entry every front end calls: mvctl through the API, the SSH jail, the web UI. It checks the
 * actor's role against the policy, validates the input with the verb's schema, runs the verb, and writes
 * one audit row per call with its result — allowed or not, valid or not, succeeded or not.
 */
export class HostService {
  private readonly disposables: Disposables;

  constructor(private readonly deps: HostServiceDependencies) {
    this.disposables =
      deps.disposables ??
      new Disposables({
        engine: deps.vms,
        host: deps.host,
        tasks: deps.tasks,
        logger: deps.logger.child('disposables'),
        poolSizes: new Map(),
      });
  }

  async call<Name extends VerbName>(
    actor: Actor,
    name: Name,
    input: unknown,
    origin: CallOrigin = {},
  ): Promise<VerbOutput<Name>> {
    // Where a network front end's caller came from goes into every row of the call, allowed or not.
    const from = origin.client === undefined ? {} : { client: origin.client };
    const checkedActor = actorSchema.safeParse(actor);
    if (!checkedActor.success) {
      const error = new ServiceError(
        'invalid-input',
        'ACTOR_INVALID',
        `the caller is not a valid actor: ${describeInputProblems(checkedActor.error)}`,
        'a front end must pass { user, role: owner|operator|viewer, via: cli|ssh|web }',
      );
      this.record({ user: '?', role: '?', via: '?' }, String(name).slice(0, 64), '-', 'denied', error, from);
      throw error;
    }
    const who = checkedActor.data;
    if (!isVerbName(name)) {
      const error = new ServiceError(
        'not-found',
        'VERB_UNKNOWN',
        `hostd has no verb "${String(name).slice(0, 64)}"`,
        'run `mvctl --help` for the verbs there are',
      );
      this.record(who, String(name).slice(0, 64), '-', 'failed', error, from);
      throw error;
    }
    if (!isAllowed(who.role, name)) {
      const error = new ServiceError(
        'forbidden',
        'POLICY_DENIED',
        `${who.user} (${who.role}) may not ${name}`,
        'ask the owner for a role that allows it',
      );
      this.record(who, name, '-', 'denied', error, from);
      throw error;
    }
    // One cast: the table's verbs differ in input and output types, each checked where it is defined.
    const verb = VERBS[name] as unknown as Verb<unknown, unknown>;
    const parsed = verb.input.safeParse(input ?? {});
    if (!parsed.success) {
      const error = new ServiceError(
        'invalid-input',
        'INPUT_INVALID',
        `invalid input for ${name}: ${describeInputProblems(parsed.error)}`,
        `see \`mvctl ${name.replace('.', ' ')} --help\``,
      );
      this.record(who, name, '-', 'failed', error, from);
      throw error;
    }
    const target = verb.target(parsed.data);
    const details = { ...from, input: verb.auditDetails?.(parsed.data) ?? parsed.data };
    let output: unknown;
    try {
      output = await verb.run(
        {
          actor: who,
          host: this.deps.host,
          audit: this.deps.audit,
          tasks: this.deps.tasks,
          vms: this.deps.vms,
          disposables: this.disposables,
          ...(this.deps.vault === undefined ? {} : { vault: this.deps.vault }),
          ...(this.deps.onion === undefined ? {} : { onion: this.deps.onion }),
          ...(this.deps.jail === undefined ? {} : { jail: this.deps.jail }),
        },
        parsed.data,
      );
    } catch (caught) {
      const error = this.asServiceError(name, caught);
      this.record(who, name, target, 'failed', error, details);
      throw error;
    }
    this.record(who, name, target, 'ok', undefined, details);
    return output as VerbOutput<Name>;
  }

  private asServiceError(verb: string, error: unknown): ServiceError {
    if (error instanceof ServiceError) return error;
    this.deps.logger.error('verb failed unexpectedly', {
      verb,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    return new ServiceError(
      'internal',
      'INTERNAL_ERROR',
      `${verb} failed inside hostd: ${error instanceof Error ? error.message : String(error)}`,
      'this is a bug in hostd: its log has the details; please report it',
      { cause: error },
    );
  }

  private record(
    actor: AuditActor,
    action: string,
    target: string,
    result: 'ok' | 'denied' | 'failed',
    error: ServiceError | undefined,
    details: Record<string, unknown>,
  ): void {
    this.deps.audit.append({
      actor,
      action,
      target,
      result,
      details:
        error === undefined ? details : { ...details, error: { code: error.code, message: error.message } },
    });
  }
}
