import { CpuPlanError } from './cpu-plan-error.js';

/** Highest CPU number accepted; libvirt's own limit for cpusets in domain XML. */
export const MAX_CPU_ID = 4095;

/**
 * Reads libvirt's cpuset syntax (what the capabilities XML uses for `siblings`, and `formatCpuSet` writes):
 * comma-separated CPUs and ranges, with `^N` excluding a CPU: "0-3,^2,8" → [0, 1, 3, 8]. Sorted, no repeats.
 */
export function parseCpuSet(text: string): number[] {
  const included = new Set<number>();
  const excluded = new Set<number>();
  const items = text.split(',').map((item) => item.trim());
  if (text.trim() === '') throw invalid(text, 'it is empty');
  for (const item of items) {
    const match = /^(\^)?([0-9]{1,4})(?:-([0-9]{1,4}))?$/.exec(item);
    if (match === null) throw invalid(text, `"${item}" is not a CPU number, a range "N-M" or "^N"`);
    const [, negated, firstText, lastText] = match;
    const first = Number(firstText);
    const last = lastText === undefined ? first : Number(lastText);
    if (last > MAX_CPU_ID) throw invalid(text, `CPU ${last} is above ${MAX_CPU_ID}`);
    if (last < first) throw invalid(text, `the range "${item}" runs backwards`);
    if (negated !== undefined && lastText !== undefined)
      throw invalid(text, `"${item}": only single CPUs can be excluded`);
    for (let cpu = first; cpu <= last; cpu += 1) (negated === undefined ? included : excluded).add(cpu);
  }
  return [...included].filter((cpu) => !excluded.has(cpu)).sort((a, b) => a - b);
}

function invalid(text: string, why: string): CpuPlanError {
  return new CpuPlanError(
    'CPU_SET_INVALID',
    `the CPU set ${JSON.stringify(text)} is not valid: ${why}. Write CPUs as in "0-3,8,^2".`,
  );
}
