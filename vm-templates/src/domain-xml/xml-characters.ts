/**
 * XML 1.0's Char production, negated: C0 controls other than tab, LF and CR, lone surrogates,
 * U+FFFE and U+FFFF. No escape can put these in a document (`&#1;` is not well-formed either).
 */
// eslint-disable-next-line no-control-regex -- matching these control characters is the point
export const NON_XML_CHARACTER = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/u;

// Written as escapes so the source shows which code points these are. Combining marks and the
// zero-width joiners are ranges placed first: they are single code points here, not sequences.
const NAME_START =
  '\\u200c-\\u200d:A-Z_a-z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u02ff\\u0370-\\u037d\\u037f-\\u1fff' +
  '\\u2070-\\u218f\\u2c00-\\u2fef\\u3001-\\ud7ff\\uf900-\\ufdcf\\ufdf0-\\ufffd\\u{10000}-\\u{effff}';
const NAME_REST = `\\u0300-\\u036f\\u203f-\\u2040${NAME_START}\\-.0-9\\u00b7`;

/** XML 1.0's Name production. */
export const XML_NAME = new RegExp(`^[${NAME_START}][${NAME_REST}]*$`, 'u');

/** The same, anchored at `lastIndex`, for the reader. */
export const XML_NAME_AT = new RegExp(`[${NAME_START}][${NAME_REST}]*`, 'uy');

/** A name a namespace-aware document may use: at most one colon, not at either end. */
export function isQualifiedName(name: string): boolean {
  if (!XML_NAME.test(name)) return false;
  const parts = name.split(':');
  return parts.length === 1 || (parts.length === 2 && parts[0] !== '' && parts[1] !== '');
}
