import { randomBytes, randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { AuditActor } from '../audit/index.js';
import { HOSTD_ACTOR } from '../audit/index.js';
import type { Logger } from '../log.js';
import { requireLibvirt } from '../service/libvirt-access.js';
import { ServiceError } from '../service/service-error.js';
import type { HostFacts } from '../service/verb.js';
import type { TaskContext, TaskManager } from '../tasks/index.js';
import { guestCommandLine, runConsoleCommand, whenShellAnswers } from './console-command.js';
import type { ConsoleCommandResult } from './console-command.js';
import type { VmEngine } from './vm-engine.js';
import { isDisposableInstance } from './vm-engine.js';

export interface DisposableRun {
  readonly name: string;
  readonly template: string;
  /** Taken from the preloaded pool (resumed) rather than booted for this run. */
  readonly preloaded: boolean;
  /** From the request to a guest that answers on its console. */
  readonly readyAfterSeconds: number;
  /** Set when a command was given: it ran, and the VM was stopped (and so deleted) after it. */
  readonly command: ConsoleCommandResult | null;
}

export interface DisposablesOptions {
  readonly engine: VmEngine;
  readonly host: HostFacts;
  readonly tasks: TaskManager;
  readonly logger: Logger;
  /** How many booted, paused disposables to keep ready, per template name. */
  readonly poolSizes: ReadonlyMap<string, number>;
}

const NAME_ATTEMPTS = 20;
/** A ready guest answers its console in milliseconds; this bounds one that froze in the pool (10 s in all). */
const PROBE_ATTEMPTS = 5;
/** After a failed refill (libvirtd away, disk full…), the pool tries again by itself. */
const REFILL_RETRY_MS = 30_000;
const PROBE_ATTEMPT_TIMEOUT_MS = 2_000;

/**
 * Disposable VMs (`vm run`): made from a disposable template under a `disp-N` name, deleted when they stop
 * (by the engine's after-stop cleanup, so also when hostd was down at that moment). A pool per template
 * keeps some booted and paused, so a run only resumes one and hands it fresh entropy; the pool refills in
 * the background. Each pooled VM booted on its own, so none shares a MAC, a boot id or an RNG state.
 */
export class Disposables {
  private readonly claimed = new Set<string>();
  private readonly refilling = new Map<string, Promise<void>>();

  constructor(private readonly options: DisposablesOptions) {}

  async run(
    templateName: string,
    command: readonly string[] | undefined,
    options: { readonly requestedBy: AuditActor; readonly timeoutSeconds: number },
  ): Promise<DisposableRun> {
    const template = await this.options.engine.template(templateName);
    if (template.role !== 'disposable') {
      throw new ServiceError(
        'invalid-input',
        'TEMPLATE_NOT_DISPOSABLE',
        `template ${templateName} has role ${template.role}; \`vm run\` makes VMs from disposable templates only`,
        'use a template with `role: disposable` (the shipped one is named disposable)',
      );
    }
    const commandLine = command === undefined ? undefined : guestCommandLine(command);
    const requestedAt = performance.now();
    const pooled = await this.takeFromPool(templateName);
    let name: string;
    if (pooled !== undefined) {
      name = pooled;
    } else {
      name = await this.freshName();
      await this.options.engine.create(name, templateName, { disposableInstance: true });
      await this.options.engine.start(name, unboundContext(), { afterReady: shellAnswers });
    }
    const readyAfterSeconds = Math.round(performance.now() - requestedAt) / 1000;
    this.options.logger.info('disposable VM ready', {
      vm: name,
      preloaded: pooled !== undefined,
      readyAfterSeconds,
    });
    this.refillInBackground(templateName);
    if (commandLine === undefined) {
      return {
        name,
        template: templateName,
        preloaded: pooled !== undefined,
        readyAfterSeconds,
        command: null,
      };
    }
    try {
      const console = await this.options.engine.openConsole(name, { force: true });
      try {
        const result = await runConsoleCommand(console, commandLine, {
          timeoutMs: options.timeoutSeconds * 1000,
        });
        return {
          name,
          template: templateName,
          preloaded: pooled !== undefined,
          readyAfterSeconds,
          command: result,
        };
      } finally {
        console.destroy();
      }
    } finally {
      await this.options.engine.kill(name).catch((error: unknown) => {
        this.options.logger.warn('stopping a disposable after its command failed', {
          vm: name,
          error: error instanceof Error ? error.message : String(error),
        });
      });
    }
  }

  /** Fills every template's pool (at connect, once stopped VMs are reconciled). */
  refillAll(): void {
    for (const template of this.options.poolSizes.keys()) this.refillInBackground(template);
  }

  /** Settles when the pool of `template` is full (or a refill failed and was logged). */
  async whenRefilled(template: string): Promise<void> {
    await this.refilling.get(template);
  }

  private refillInBackground(template: string): void {
    if ((this.options.poolSizes.get(template) ?? 0) === 0 || this.refilling.has(template)) return;
    const refill = this.refill(template)
      .catch((error: unknown) => {
        this.options.logger.warn('preloading disposables failed; `vm run` boots them on demand meanwhile', {
          template,
          retryInSeconds: REFILL_RETRY_MS / 1000,
          error: error instanceof Error ? error.message : String(error),
        });
        setTimeout(() => this.refillInBackground(template), REFILL_RETRY_MS).unref();
      })
      .finally(() => this.refilling.delete(template));
    this.refilling.set(template, refill);
  }

  private async refill(template: string): Promise<void> {
    const size = this.options.poolSizes.get(template) ?? 0;
    while ((await this.pooled(template)).length < size) {
      const name = await this.freshName();
      this.claimed.add(name);
      try {
        await this.options.engine.create(name, template, { disposableInstance: true });
        const { done } = this.options.tasks.start(
          { kind: 'vm.preload', target: name, requestedBy: HOSTD_ACTOR },
          async (context) => {
            // Paused only once its shell answers, so a resumed VM is ready the moment it runs again.
            await this.options.engine.start(name, context, {
              afterReady: async (console) => {
                context.reportProgress(0.9, 'waiting for the guest shell');
                await shellAnswers(console);
              },
            });
            context.reportProgress(0.95, 'pausing the ready guest');
            await this.options.engine.pause(name);
            return { name };
          },
        );
        await done;
      } catch (error) {
        await this.options.engine.kill(name).catch(() => undefined);
        await this.options.engine.afterStop(name).catch(() => undefined);
        throw error;
      } finally {
        this.claimed.delete(name);
      }
    }
  }

  /** Paused disposables of the template that no run has claimed. */
  private async pooled(template: string): Promise<string[]> {
    const client = requireLibvirt(this.options.host);
    const names: string[] = [];
    for (const vm of await this.options.engine.managedVms(client)) {
      if (!isDisposableInstance(vm) || vm.metadata.template !== template || this.claimed.has(vm.domain.name))
        continue;
      const state = await client.domainGetState(vm.domain).catch(() => undefined);
      if (state?.stateName === 'paused') names.push(vm.domain.name);
    }
    return names;
  }

  /**
   * Resumes a pooled VM and checks that its shell answers, feeding the guest's RNG on the way: the pool VM
   * has sat paused, and what it does next must not be predictable from what it did before.
   */
  private async takeFromPool(template: string): Promise<string | undefined> {
    for (const name of await this.pooled(template)) {
      if (this.claimed.has(name)) continue;
      this.claimed.add(name);
      try {
        await this.options.engine.resume(name);
        await this.probe(name, `echo ${randomBytes(32).toString('hex')} > /dev/urandom`);
        return name;
      } catch (error) {
        this.options.logger.warn('a preloaded disposable did not answer; discarding it', {
          vm: name,
          error: error instanceof Error ? error.message : String(error),
        });
        await this.options.engine.kill(name).catch(() => undefined);
      } finally {
        this.claimed.delete(name);
      }
    }
    return undefined;
  }

  /** Runs a short command on the VM's console, retried while the shell does not answer yet. */
  private async probe(name: string, commandLine: string): Promise<void> {
    const console = await this.options.engine.openConsole(name, { force: true });
    try {
      await probeShell(console, commandLine);
    } finally {
      console.destroy();
    }
  }

  private async freshName(): Promise<string> {
    const client = requireLibvirt(this.options.host);
    const taken = new Set((await this.options.engine.managedVms(client)).map((vm) => vm.domain.name));
    for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt += 1) {
      const name = `disp-${randomInt(1, 1_000_000)}`;
      if (!taken.has(name) && !this.claimed.has(name)) return name;
    }
    throw new ServiceError(
      'internal',
      'DISPOSABLE_NAMES_EXHAUSTED',
      'no free disposable name was found',
      'retry',
    );
  }
}

function probeShell(console: Duplex, commandLine: string): Promise<unknown> {
  return whenShellAnswers(console, commandLine, {
    attempts: PROBE_ATTEMPTS,
    attemptTimeoutMs: PROBE_ATTEMPT_TIMEOUT_MS,
  });
}

/** A freshly started disposable's console shell answers (run on the start's own console). */
async function shellAnswers(console: Duplex): Promise<void> {
  await probeShell(console, 'true');
}

/** For starts that are part of a larger call rather than tasks of their own. */
function unboundContext(): TaskContext {
  return { signal: new AbortController().signal, reportProgress: () => undefined };
}
