/** How a benchmark shows its results: a readable table, then one JSON line of its figures as the very last line. */
export interface BenchRow {
  label: string;
  values: Record<string, string | number>;
}

export function printTable(title: string, rows: readonly BenchRow[]): void {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row.values)))];
  const render = (value: string | number | undefined) =>
    value === undefined ? '' : typeof value === 'number' ? formatNumber(value) : value;
  const header = ['', ...columns];
  const body = rows.map((row) => [row.label, ...columns.map((column) => render(row.values[column]))]);
  const widths = header.map((_, index) =>
    Math.max(...[header, ...body].map((line) => (line[index] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, index) => (index === 0 ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!)))
      .join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const cells of body) console.log(line(cells));
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100
    ? value.toFixed(0)
    : Math.abs(value) >= 1
      ? value.toFixed(2)
      : value.toPrecision(3);
}

export function printFigures(bench: string, figures: Record<string, number | string | null>): void {
  console.log(JSON.stringify({ bench, ...figures }));
}

/** Runs `operation` `count` times one after another and returns the mean time of one run in microseconds. */
export async function meanMicros(
  count: number,
  operation: (index: number) => Promise<unknown>,
): Promise<number> {
  const start = process.hrtime.bigint();
  for (let index = 0; index < count; index++) await operation(index);
  return Number(process.hrtime.bigint() - start) / 1000 / count;
}
