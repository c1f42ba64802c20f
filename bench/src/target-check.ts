/** A figure an issue asks for: at least or at most a value. */
export interface Target {
  readonly atLeast?: number;
  readonly atMost?: number;
  /** How the value is shown: `x` for ratios, `%` for fractions shown as percentages, `s` for seconds. */
  readonly unit: 'x' | '%' | 's';
}

export function describeTarget(target: Target): string {
  const shown = (value: number) =>
    target.unit === '%' ? `${value * 100}%` : target.unit === 's' ? `${value} s` : `${value}x`;
  if (target.atLeast !== undefined) return `>= ${shown(target.atLeast)}`;
  if (target.atMost !== undefined) return `<= ${shown(target.atMost)}`;
  return '';
}

/** `yes` or `NO` (capitals, to stand out in a table); `n/a` when there is no measured value. */
export function targetMet(value: number | null, target: Target): 'yes' | 'NO' | 'n/a' {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  if (target.atLeast !== undefined && value < target.atLeast) return 'NO';
  if (target.atMost !== undefined && value > target.atMost) return 'NO';
  return 'yes';
}

export function showValue(value: number | null, unit: Target['unit']): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  if (unit === '%') return `${(value * 100).toFixed(1)}%`;
  if (unit === 's') return `${value < 1 ? value.toFixed(3) : value.toFixed(2)} s`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)}x`;
}

/** Rounded for the JSON line: enough digits for milliseconds and for ratios, no float noise. */
export function roundFigure(value: number | null, digits = 3): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
