import { NON_XML_CHARACTER, XML_NAME_AT } from './xml-characters.js';
import { XmlError } from './xml-error.js';

/** An element as read, its names resolved against the namespace declarations in scope. */
export interface ParsedElement {
  /** The name as written, prefix included. */
  readonly name: string;
  readonly localName: string;
  /** The namespace URI, or null for none. */
  readonly namespace: string | null;
  /** Attributes other than namespace declarations. */
  readonly attributes: readonly ParsedAttribute[];
  /** Elements and text; adjacent text, references and CDATA sections are merged into one string. */
  readonly children: readonly (ParsedElement | string)[];
}

export interface ParsedAttribute {
  readonly name: string;
  readonly localName: string;
  readonly namespace: string | null;
  readonly value: string;
}

export interface XmlReaderLimits {
  readonly maxLength: number;
  readonly maxDepth: number;
}

/** A domain XML is a few kilobytes and six levels deep; these bound what a hostile one costs. */
export const DEFAULT_XML_READER_LIMITS: XmlReaderLimits = { maxLength: 4 * 1024 * 1024, maxDepth: 64 };

const XML_NAMESPACE = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NAMESPACE = 'http://www.w3.org/2000/xmlns/';
const PREDEFINED_ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};

/**
 * A non-validating, namespace-aware reader for XML 1.0 documents without a DTD: elements,
 * attributes, text, character and predefined entity references, CDATA, comments and processing
 * instructions (skipped). A DOCTYPE is refused rather than half-supported, so no entity can expand.
 */
export function parseXml(input: string, limits: XmlReaderLimits = DEFAULT_XML_READER_LIMITS): ParsedElement {
  if (input.length > limits.maxLength) {
    throw new XmlError(
      'XML_LIMIT_EXCEEDED',
      `the document has ${input.length} characters, more than ${limits.maxLength}`,
    );
  }
  return new XmlReader(input, limits).document();
}

/** The text of an element that holds only text (comments aside); an error if it holds elements. */
export function textOf(element: ParsedElement): string {
  let text = '';
  for (const child of element.children) {
    if (typeof child !== 'string') {
      throw new XmlError('XML_MALFORMED', `<${element.name}> must hold only text, but holds <${child.name}>`);
    }
    text += child;
  }
  return text;
}

/** Child elements, whitespace between them ignored; text that is not whitespace is an error. */
export function elementsOf(element: ParsedElement): ParsedElement[] {
  const elements: ParsedElement[] = [];
  for (const child of element.children) {
    if (typeof child !== 'string') elements.push(child);
    else if (/[^ \t\n]/.test(child)) {
      throw new XmlError(
        'XML_MALFORMED',
        `<${element.name}> must hold only elements, but holds text ${JSON.stringify(child)}`,
      );
    }
  }
  return elements;
}

export function attributeOf(
  element: ParsedElement,
  localName: string,
  namespace: string | null = null,
): string | undefined {
  return element.attributes.find(
    (attribute) => attribute.localName === localName && attribute.namespace === namespace,
  )?.value;
}

interface RawAttribute {
  readonly name: string;
  readonly value: string;
}

class XmlReader {
  private readonly text: string;
  private position = 0;

  constructor(
    input: string,
    private readonly limits: XmlReaderLimits,
  ) {
    // End-of-line handling (XML 1.0 §2.11) happens before parsing: CR LF and lone CR become LF.
    const withoutBom = input.startsWith('\ufeff') ? input.slice(1) : input;
    this.text = withoutBom.replace(/\r\n?/g, '\n');
    const forbidden = NON_XML_CHARACTER.exec(this.text);
    if (forbidden !== null) {
      this.position = forbidden.index;
      const code = (forbidden[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
      this.fail(`U+${code} is not an XML character`);
    }
  }

  document(): ParsedElement {
    if (this.text.startsWith('<?xml') && /[ \t\n?]/.test(this.text[5] ?? '')) this.xmlDeclaration();
    this.miscellany();
    if (this.text.startsWith('<!DOCTYPE', this.position)) {
      this.fail(
        'document type declarations are not accepted (they can define entities); remove the <!DOCTYPE>',
      );
    }
    if (this.peek() !== '<') this.fail('expected the root element');
    const root = this.element(new Map([['xml', XML_NAMESPACE]]), 1);
    this.miscellany();
    if (this.position < this.text.length) this.fail('content after the root element');
    return root;
  }

  private xmlDeclaration(): void {
    const end = this.text.indexOf('?>');
    if (end === -1) this.fail('unterminated XML declaration');
    const declaration = this.text.slice(0, end);
    if (!/^<\?xml\s+version\s*=\s*(["'])1\.[0-9]+\1/.test(declaration)) {
      this.fail('the XML declaration must start with version="1.x"');
    }
    this.position = end + 2;
  }

  /** Whitespace, comments and processing instructions, which may surround the root element. */
  private miscellany(): void {
    for (;;) {
      this.whitespace();
      if (this.text.startsWith('<!--', this.position)) this.comment();
      else if (this.text.startsWith('<?', this.position)) this.processingInstruction();
      else return;
    }
  }

  private element(scope: ReadonlyMap<string, string>, depth: number): ParsedElement {
    if (depth > this.limits.maxDepth) this.fail(`elements nested deeper than ${this.limits.maxDepth}`);
    const start = this.position;
    this.expect('<');
    const name = this.name();
    const rawAttributes: RawAttribute[] = [];
    let selfClosing = false;
    for (;;) {
      const hadSpace = this.whitespace();
      if (this.text.startsWith('/>', this.position)) {
        this.position += 2;
        selfClosing = true;
        break;
      }
      if (this.peek() === '>') {
        this.position += 1;
        break;
      }
      if (!hadSpace) this.fail(`expected whitespace, ">" or "/>" in the tag <${name}>`);
      const attributeStart = this.position;
      const attributeName = this.name();
      if (rawAttributes.some((attribute) => attribute.name === attributeName)) {
        this.fail(`attribute ${attributeName} appears twice in <${name}>`, attributeStart);
      }
      this.whitespace();
      this.expect('=');
      this.whitespace();
      rawAttributes.push({ name: attributeName, value: this.attributeValue() });
    }

    const innerScope = new Map(scope);
    for (const { name: attributeName, value } of rawAttributes) {
      if (attributeName === 'xmlns') innerScope.set('', value);
      else if (attributeName.startsWith('xmlns:')) {
        const prefix = attributeName.slice('xmlns:'.length);
        if (value === '') this.fail(`the prefix ${prefix} cannot be undeclared in XML 1.0`, start);
        if (
          prefix === 'xmlns' ||
          (prefix === 'xml') !== (value === XML_NAMESPACE) ||
          value === XMLNS_NAMESPACE
        ) {
          this.fail(`the reserved prefix or namespace of ${attributeName} cannot be bound this way`, start);
        }
        innerScope.set(prefix, value);
      }
    }
    const [prefix, localName] = this.splitName(name, start);
    const namespace =
      prefix === '' ? innerScope.get('') || null : this.resolve(innerScope, prefix, name, start);
    const attributes: ParsedAttribute[] = [];
    for (const { name: attributeName, value } of rawAttributes) {
      if (attributeName === 'xmlns' || attributeName.startsWith('xmlns:')) continue;
      const [attributePrefix, attributeLocal] = this.splitName(attributeName, start);
      // Unprefixed attributes are in no namespace, whatever the default namespace is.
      const attributeNamespace =
        attributePrefix === '' ? null : this.resolve(innerScope, attributePrefix, attributeName, start);
      if (
        attributes.some(
          (other) => other.localName === attributeLocal && other.namespace === attributeNamespace,
        )
      ) {
        this.fail(
          `attributes of <${name}> repeat the name {${attributeNamespace ?? ''}}${attributeLocal}`,
          start,
        );
      }
      attributes.push({
        name: attributeName,
        localName: attributeLocal,
        namespace: attributeNamespace,
        value,
      });
    }

    const children = selfClosing ? [] : this.content(name, innerScope, depth);
    return { name, localName, namespace, attributes, children };
  }

  private content(
    name: string,
    scope: ReadonlyMap<string, string>,
    depth: number,
  ): (ParsedElement | string)[] {
    const children: (ParsedElement | string)[] = [];
    let text = '';
    const flushText = () => {
      if (text !== '') children.push(text);
      text = '';
    };
    for (;;) {
      if (this.position >= this.text.length) this.fail(`<${name}> is not closed`);
      const next = this.text.indexOf('<', this.position);
      const end = next === -1 ? this.text.length : next;
      if (end > this.position) {
        const characters = this.text.slice(this.position, end);
        const terminator = characters.indexOf(']]>');
        if (terminator !== -1) this.fail('"]]>" is not allowed in text', this.position + terminator);
        text += this.expandReferences(characters, this.position);
        this.position = end;
        continue;
      }
      if (this.text.startsWith('</', this.position)) {
        const tagStart = this.position;
        this.position += 2;
        const closing = this.name();
        if (closing !== name) this.fail(`</${closing}> closes <${name}>`, tagStart);
        this.whitespace();
        this.expect('>');
        flushText();
        return children;
      }
      if (this.text.startsWith('<![CDATA[', this.position)) {
        const close = this.text.indexOf(']]>', this.position + 9);
        if (close === -1) this.fail('unterminated CDATA section');
        text += this.text.slice(this.position + 9, close);
        this.position = close + 3;
      } else if (this.text.startsWith('<!--', this.position)) {
        this.comment();
      } else if (this.text.startsWith('<?', this.position)) {
        this.processingInstruction();
      } else if (this.text.startsWith('<!', this.position)) {
        this.fail('markup declarations are not allowed in content');
      } else {
        flushText();
        children.push(this.element(scope, depth + 1));
      }
    }
  }

  private attributeValue(): string {
    const quote = this.peek();
    if (quote !== '"' && quote !== "'") this.fail('expected a quoted attribute value');
    const close = this.text.indexOf(quote, this.position + 1);
    if (close === -1) this.fail('unterminated attribute value');
    const raw = this.text.slice(this.position + 1, close);
    const lessThan = raw.indexOf('<');
    if (lessThan !== -1) this.fail('"<" is not allowed in an attribute value', this.position + 1 + lessThan);
    // Attribute-value normalisation: literal whitespace becomes a space; whitespace from references stays.
    const value = this.expandReferences(raw.replace(/[\t\n]/g, ' '), this.position + 1);
    this.position = close + 1;
    return value;
  }

  private expandReferences(raw: string, offset: number): string {
    return raw.replace(
      /&([^;&]*)(;?)/g,
      (reference: string, body: string, semicolon: string, index: number) => {
        const at = offset + index;
        if (semicolon === '') this.fail('"&" must start a reference such as &amp;', at);
        const numeric = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(body);
        if (numeric !== null) {
          const code = numeric[1] === undefined ? Number(numeric[2]) : parseInt(numeric[1], 16);
          const character = code <= 0x10ffff ? String.fromCodePoint(code) : '';
          if (character === '' || NON_XML_CHARACTER.test(character))
            this.fail(`${reference} is not an XML character`, at);
          return character;
        }
        const entity = PREDEFINED_ENTITIES[body];
        if (entity === undefined)
          this.fail(`unknown entity ${reference}: only the five predefined ones exist without a DTD`, at);
        return entity;
      },
    );
  }

  private comment(): void {
    const close = this.text.indexOf('--', this.position + 4);
    if (close === -1) this.fail('unterminated comment');
    if (this.text[close + 2] !== '>') this.fail('"--" is not allowed inside a comment', close);
    this.position = close + 3;
  }

  private processingInstruction(): void {
    this.position += 2;
    const target = this.name();
    if (target.toLowerCase() === 'xml') this.fail('an XML declaration may only start the document');
    const close = this.text.indexOf('?>', this.position);
    if (close === -1) this.fail('unterminated processing instruction');
    this.position = close + 2;
  }

  private name(): string {
    XML_NAME_AT.lastIndex = this.position;
    const match = XML_NAME_AT.exec(this.text);
    if (match === null) this.fail('expected a name');
    this.position += match[0].length;
    return match[0];
  }

  private splitName(name: string, at: number): [prefix: string, localName: string] {
    const parts = name.split(':');
    if (parts.length === 1) return ['', name];
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '')
      this.fail(`${name} is not a qualified name`, at);
    return [parts[0] ?? '', parts[1] ?? ''];
  }

  private resolve(scope: ReadonlyMap<string, string>, prefix: string, name: string, at: number): string {
    const namespace = scope.get(prefix);
    if (namespace === undefined || prefix === '') this.fail(`the prefix of ${name} is not declared`, at);
    return namespace;
  }

  private whitespace(): boolean {
    const start = this.position;
    while (this.position < this.text.length && ' \t\n'.includes(this.text[this.position] ?? ''))
      this.position += 1;
    return this.position > start;
  }

  private peek(): string | undefined {
    return this.text[this.position];
  }

  private expect(character: string): void {
    if (this.peek() !== character) this.fail(`expected "${character}"`);
    this.position += 1;
  }

  private fail(message: string, at: number = this.position): never {
    const before = this.text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    throw new XmlError('XML_MALFORMED', `line ${line}, column ${column}: ${message}`);
  }
}
