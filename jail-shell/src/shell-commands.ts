import type { JailRole } from './user-store.js';

export interface ShellSessionUser {
  readonly name: string;
  readonly role: JailRole;
}

export interface ShellVerb {
  /** The words that name the verb, e.g. `['vm', 'start']`. */
  readonly words: readonly string[];
  readonly summary: string;
}

export interface ShellCommandOutput {
  writeLine(line: string): void;
  writeErrorLine(line: string): void;
}

export type ShellCommandResult = { kind: 'ran'; exitCode: number } | { kind: 'unknown' };

/**
 * The verbs a jail user can run. The jail owns only `help` and `exit`; everything else comes from
 * a handler — hostd plugs in one that calls its service layer with the user's role.
 */
export interface ShellCommandHandler {
  verbsFor(user: ShellSessionUser): readonly ShellVerb[];
  run(
    user: ShellSessionUser,
    argv: readonly string[],
    output: ShellCommandOutput,
  ): Promise<ShellCommandResult>;
}

/** Offers `whoami` only: the handler used until hostd's service layer is wired in. */
export class IdentityCommandHandler implements ShellCommandHandler {
  verbsFor(): readonly ShellVerb[] {
    return [{ words: ['whoami'], summary: 'show your user name and role' }];
  }

  run(
    user: ShellSessionUser,
    argv: readonly string[],
    output: ShellCommandOutput,
  ): Promise<ShellCommandResult> {
    if (argv.length === 1 && argv[0] === 'whoami') {
      output.writeLine(`${user.name} (${user.role})`);
      return Promise.resolve({ kind: 'ran', exitCode: 0 });
    }
    return Promise.resolve({ kind: 'unknown' });
  }
}
