import { BASE32_ALPHABET } from './base32.js';

/**
 * The check character at the end of every share line: Luhn's mod-N algorithm over base32 (N = 32),
 * seeded with the line number. Doubling is a permutation of 0..31 under Luhn's digit-sum rule, so
 * changing any one character always changes the sum: every single-character typo in a line is
 * caught and located. The line-number seed makes two swapped lines fail their own checks.
 */
const RADIX = BASE32_ALPHABET.length;

function luhnSum(values: readonly number[], doubleFirstFromRight: boolean): number {
  let sum = 0;
  let double = doubleFirstFromRight;
  for (let i = values.length - 1; i >= 0; i -= 1) {
    let addend = values[i]!;
    if (double) {
      addend *= 2;
      addend = Math.floor(addend / RADIX) + (addend % RADIX);
    }
    sum += addend;
    double = !double;
  }
  return sum % RADIX;
}

/** The check value (0..31) for a line's data values. */
export function lineCheckValue(lineNumber: number, values: readonly number[]): number {
  return (RADIX - luhnSum([lineNumber % RADIX, ...values], true)) % RADIX;
}

/** Whether a line's values, its check value last, are consistent. */
export function lineCheckPasses(lineNumber: number, valuesWithCheck: readonly number[]): boolean {
  return luhnSum([lineNumber % RADIX, ...valuesWithCheck], false) === 0;
}
