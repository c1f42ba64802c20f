/** Reverse maps of the generated enum objects, built once per enum: lookups sit on every decoded reply. */
const reverseMaps = new WeakMap<object, Map<number, string>>();

/** The key of `value` in one of the generated enum objects, e.g. (DomainState, 1) → 'RUNNING'. */
export function enumKey(enumObject: Readonly<Record<string, number>>, value: number): string | undefined {
  let reverse = reverseMaps.get(enumObject);
  if (reverse === undefined) {
    reverse = new Map();
    // The first key wins where two names share a value, as the linear search this replaces did.
    for (const [key, candidate] of Object.entries(enumObject))
      if (!reverse.has(candidate)) reverse.set(candidate, key);
    reverseMaps.set(enumObject, reverse);
  }
  return reverse.get(value);
}
