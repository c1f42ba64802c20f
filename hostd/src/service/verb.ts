import type { LibvirtClient } from '@multiverse/libvirt-ts';
import type { z } from 'zod';
import type { AuditLog } from '../audit/index.js';
import type { HostdStatus } from '../daemon.js';
import type { TaskManager } from '../tasks/index.js';
import type { Disposables, VmEngine } from '../vm-engine/index.js';
import type { VaultService } from '../vault/index.js';
import type { JailUserAdministration } from '../jail/index.js';
import type { HostOnion } from '../onion/index.js';
import type { Actor } from './actor.js';

/** What the daemon knows about itself and its libvirt connection, as the verbs see it. */
export interface HostFacts {
  status(): HostdStatus;
  /** The current libvirt connection; undefined while hostd is (re)connecting. */
  libvirt(): LibvirtClient | undefined;
}

export interface VerbContext {
  readonly actor: Actor;
  readonly host: HostFacts;
  readonly audit: AuditLog;
  readonly tasks: TaskManager;
  readonly vms: VmEngine;
  readonly disposables: Disposables;
  /** The vault; absent where hostd's service runs without one (tests of other verbs). */
  readonly vault?: VaultService;
  /** hostd's tor, call-home and onion devices; absent where the service runs without them (tests of other verbs). */
  readonly onion?: HostOnion;
  /** The SSH jail's users; absent where hostd's service runs without the jail (tests of other verbs). */
  readonly jail?: JailUserAdministration;
}

/**
 * One thing a user can do. The input schema is the contract every front end shares (the API validates
 * request bodies with it); `target` names what the audit row is about.
 */
export interface Verb<Input, Output> {
  readonly summary: string;
  readonly input: z.ZodType<Input>;
  target(input: Input): string;
  /**
   * `stream`: the output is a byte stream (a console), reached through an HTTP upgrade of the API
   * rather than a JSON answer. Absent: JSON.
   */
  readonly transport?: 'stream';
  /** What of the input the audit row keeps; the whole input when absent. Verbs taking secrets must set it. */
  auditDetails?(input: Input): Record<string, unknown>;
  run(context: VerbContext, input: Input): Promise<Output>;
}

export function defineVerb<Input, Output>(verb: Verb<Input, Output>): Verb<Input, Output> {
  return verb;
}
