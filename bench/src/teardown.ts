/**
 * What a benchmark must undo before it exits, undone once in reverse order — from its own `finally`, or from
 * SIGINT/SIGTERM while it runs, so an interrupted run leaves nothing behind either.
 */
export class Teardown {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];
  private running: Promise<void> | undefined;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    const exitCode = 128 + (signal === 'SIGINT' ? 2 : 15);
    console.error(`${signal}: cleaning up before exiting`);
    this.run().then(
      () => process.exit(exitCode),
      (error: unknown) => {
        console.error(error);
        process.exit(exitCode);
      },
    );
  };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  /** Registers `undo`; `what` names it in the error when it fails. */
  defer(what: string, undo: () => Promise<void> | void): void {
    if (this.running) throw new Error(`cannot defer "${what}": teardown has already started`);
    this.steps.push({ what, undo });
  }

  /** Undoes every registered step, last first, even when some fail; the failures are thrown together at the end. */
  run(): Promise<void> {
    this.running ??= (async () => {
      process.removeListener('SIGINT', this.onSignal);
      process.removeListener('SIGTERM', this.onSignal);
      const failures: Error[] = [];
      for (const { what, undo } of this.steps.reverse()) {
        try {
          await undo();
        } catch (error) {
          failures.push(new Error(`teardown step "${what}" failed: ${String(error)}`, { cause: error }));
        }
      }
      if (failures.length > 0) {
        throw new AggregateError(
          failures,
          `${failures.length} teardown step(s) failed; see the errors listed`,
        );
      }
    })();
    return this.running;
  }
}
