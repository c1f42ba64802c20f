import { z } from 'zod';
import { MIB, formatByteSize, parseByteSize } from './byte-size.js';
import { closestWord } from './closest-word.js';
import { parseDurationSeconds } from './duration.js';
import { LINE_RULE, TEXT_RULE, firstForbiddenCharacter } from './free-text.js';
import { RESERVED_VM_NAMES, VM_NAME_RULE, isVmName } from './vm-names.js';

/*
 * zod field schemas whose every issue message is the *rule* of the field, a noun phrase such as
 * "an integer from 1 to 64". `describeIssues` turns it into "must be <rule>, got <value>", so a
 * message states the field's whole rule whichever of its checks failed.
 */

export function integerBetween(min: number, max: number): z.ZodNumber {
  const rule = `an integer from ${min} to ${max}`;
  return z.number({ error: rule }).int({ error: rule }).min(min, { error: rule }).max(max, { error: rule });
}

export function oneOf<const Values extends readonly [string, ...string[]]>(values: Values) {
  return z.enum(values, { error: `one of ${values.join(', ')}` });
}

export function flag(): z.ZodBoolean {
  return z.boolean({ error: 'true or false' });
}

export function freeText(maxLength: number) {
  return checkedText(`${TEXT_RULE}, at most ${maxLength} characters`, maxLength, false);
}

export function singleLine(maxLength: number) {
  return checkedText(`${LINE_RULE}, at most ${maxLength} characters`, maxLength, true);
}

/** The rule, plus where the first refused character is: a long value is shown cut short. */
function checkedText(rule: string, maxLength: number, oneLine: boolean) {
  return z
    .string({ error: rule })
    .max(maxLength, { error: rule })
    .superRefine((text, context) => {
      const found = firstForbiddenCharacter(text, oneLine);
      if (found !== undefined)
        context.addIssue({ code: 'custom', message: `${rule} (found ${found})`, input: text });
    });
}

export function vmName() {
  const rule = `${VM_NAME_RULE}, other than ${RESERVED_VM_NAMES.map((name) => `"${name}"`).join(' or ')}`;
  return z.string({ error: rule }).refine(isVmName, { error: rule });
}

/** A string turned into a value by `parse`, which answers undefined for anything outside `rule`. */
export function parsedString<Output>(rule: string, parse: (text: string) => Output | undefined) {
  return z.string({ error: rule }).transform((text, context) => {
    const value = parse(text);
    if (value === undefined) {
      context.addIssue({ code: 'custom', message: rule, input: text });
      return z.NEVER;
    }
    return value;
  });
}

/** A size such as `512MiB`, in bytes: a whole number of MiB within [min, max]. */
export function byteSize(min: number, max: number) {
  const rule = `a size with a unit (KiB, MiB, GiB or TiB) that is a whole number of MiB from ${formatByteSize(min)} to ${formatByteSize(max)}`;
  return parsedString(rule, (text) => {
    const bytes = parseByteSize(text);
    return bytes !== undefined && bytes % MIB === 0 && bytes >= min && bytes <= max ? bytes : undefined;
  });
}

/** A duration such as `90s` or `2m`, in seconds, within [minSeconds, maxSeconds]. */
export function duration(minSeconds: number, maxSeconds: number) {
  const rule = `a duration with a unit (s, m or h) from ${minSeconds}s to ${maxSeconds}s`;
  return parsedString(rule, (text) => {
    const seconds = parseDurationSeconds(text);
    return seconds !== undefined && seconds >= minSeconds && seconds <= maxSeconds ? seconds : undefined;
  });
}

/**
 * An object that rejects keys it does not know, naming them, the closest known key and every
 * known key: a typo must not silently fall back to a default.
 */
export function closedObject<Shape extends z.ZodRawShape>(shape: Shape, what: string) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return `${what} with the keys ${known.join(', ')}`;
      const unknown = issue.keys.map((key) => {
        const suggestion = closestWord(key, known);
        return suggestion === undefined ? `"${key}"` : `"${key}" (did you mean "${suggestion}"?)`;
      });
      const noun = unknown.length === 1 ? 'unknown key' : 'unknown keys';
      return `${noun} ${unknown.join(', ')}; known keys: ${known.join(', ')}`;
    },
  });
}
