/** Stable codes for the XML writer and reader. */
export type XmlErrorCode =
  /** An element or attribute name is not an XML name (a bug in the caller, never user input). */
  | 'XML_NAME_INVALID'
  /** A value holds a character XML 1.0 cannot carry, not even escaped (most C0 controls, lone surrogates). */
  | 'XML_CHARACTER_INVALID'
  /** The input is not a well-formed XML document (or uses a DTD, which is refused). */
  | 'XML_MALFORMED'
  /** The input is larger or deeper than the reader accepts. */
  | 'XML_LIMIT_EXCEEDED';

export class XmlError extends Error {
  override readonly name = 'XmlError';

  constructor(
    readonly code: XmlErrorCode,
    message: string,
  ) {
    super(message);
  }
}
