/** The key of `value` in one of the generated enum objects, e.g. (DomainState, 1) → 'RUNNING'. */
export function enumKey(enumObject: Readonly<Record<string, number>>, value: number): string | undefined {
  for (const [key, candidate] of Object.entries(enumObject)) if (candidate === value) return key;
  return undefined;
}
