/**
 * Turns the output of debootstrap and apt-get into a fraction of their work, so a build can show
 * progress. Both print one line per package and step; the totals are known only part-way (apt says
 * them before it starts, debootstrap lists packages as it goes), so the fractions are estimates
 * that never go backwards.
 */

/** A bookworm minbase with systemd and its dependencies is about this many packages. */
const EXPECTED_DEBOOTSTRAP_PACKAGES = 110;

export interface LineProgress {
  /** Reads one output line; returns the new fraction (0-1) and a short description, or undefined if the line says nothing new. */
  read(line: string): { readonly fraction: number; readonly detail: string } | undefined;
}

/**
 * debootstrap's first stage (`I: Retrieving`/`I: Validating` per package, then `I: Extracting`
 * per package) or second stage (`I: Unpacking`, then `I: Configuring` per package). Each stage
 * has two passes over the same packages; each pass is half of the stage.
 */
export function debootstrapProgress(stage: 'first' | 'second'): LineProgress {
  const [firstPass, secondPass] =
    stage === 'first'
      ? [/^I: Validating (\S+)/, /^I: Extracting (\S+)/]
      : [/^I: Unpacking (\S+)/, /^I: Configuring (\S+)/];
  const firstSeen = new Set<string>();
  const secondSeen = new Set<string>();
  let reached = 0;
  return {
    read(line) {
      const first = firstPass.exec(line);
      const second = first === null ? secondPass.exec(line) : null;
      const name = (first ?? second)?.[1]?.replace(/\.\.\.$/, '');
      if (name === undefined) return undefined;
      (first !== null ? firstSeen : secondSeen).add(name);
      // Once the second pass runs, the first has seen every package.
      const total =
        secondSeen.size > 0
          ? Math.max(firstSeen.size, secondSeen.size)
          : Math.max(EXPECTED_DEBOOTSTRAP_PACKAGES, firstSeen.size);
      const fraction =
        secondSeen.size > 0 ? 0.5 + (0.5 * secondSeen.size) / total : (0.5 * firstSeen.size) / total;
      reached = Math.min(1, Math.max(reached, fraction));
      const verb =
        first !== null
          ? stage === 'first'
            ? 'fetching'
            : 'unpacking'
          : stage === 'first'
            ? 'extracting'
            : 'configuring';
      return { fraction: reached, detail: `${verb} ${name}` };
    },
  };
}

/** apt-get: `N upgraded, M newly installed` first, then `Unpacking X` and `Setting up X` for each. */
export function aptProgress(): LineProgress {
  let total: number | undefined;
  let steps = 0;
  let reached = 0;
  return {
    read(line) {
      const summary = /^(\d+) upgraded, (\d+) newly installed/.exec(line);
      if (summary !== null) {
        total = 2 * (Number(summary[1]) + Number(summary[2]));
        return { fraction: reached, detail: line };
      }
      const step = /^(Unpacking|Setting up) (\S+)/.exec(line);
      if (step === null) return undefined;
      steps += 1;
      if (total !== undefined && total > 0) reached = Math.min(1, Math.max(reached, steps / total));
      return {
        fraction: reached,
        detail: `${step[1] === 'Unpacking' ? 'unpacking' : 'configuring'} ${step[2] ?? ''}`,
      };
    },
  };
}

/** `qemu-img convert -p` prints `    (42.00/100%)`, rewriting one line with carriage returns. */
export function qemuImgProgress(): LineProgress {
  return {
    read(line) {
      const match = /\((\d+(?:\.\d+)?)\/100%\)/.exec(line);
      if (match === null) return undefined;
      return { fraction: Math.min(1, Number(match[1]) / 100), detail: `${match[1]}%` };
    },
  };
}
