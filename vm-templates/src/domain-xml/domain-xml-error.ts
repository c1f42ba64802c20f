/** Stable codes for building a VM model, generating its domain XML and reading our metadata back. */
export type DomainXmlErrorCode =
  /** The instance facts are malformed or do not fit the template (a volume without a path, ...). */
  | 'VM_MODEL_INVALID'
  /** The domain XML handed to the metadata reader is not well-formed XML. */
  | 'DOMAIN_XML_MALFORMED'
  /** The domain carries Multiverse metadata that does not follow the schema. */
  | 'METADATA_INVALID';

export class DomainXmlError extends Error {
  override readonly name = 'DomainXmlError';

  constructor(
    readonly code: DomainXmlErrorCode,
    /** One line per problem, each naming the field. */
    readonly problems: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(problems.join('\n'), options);
  }
}
