/** libvirt's cpuset syntax for a list of host CPUs: [0, 1, 2, 5] → "0-2,5". */
export function formatCpuSet(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const ranges: string[] = [];
  let index = 0;
  while (index < sorted.length) {
    const first = sorted[index] ?? 0;
    let last = first;
    while (sorted[index + 1] === last + 1) {
      index += 1;
      last += 1;
    }
    ranges.push(first === last ? String(first) : `${first}-${last}`);
    index += 1;
  }
  return ranges.join(',');
}
