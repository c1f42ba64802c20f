import { NON_XML_CHARACTER, isQualifiedName } from './xml-characters.js';
import { XmlError } from './xml-error.js';

/** An element to write. Text children are escaped when rendered; attribute order is kept. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: readonly (readonly [string, string])[];
  readonly children: readonly XmlNode[];
}

/** A child is an element or a piece of text. */
export type XmlNode = XmlElement | string;

export type XmlAttributes = Readonly<Record<string, string | number | undefined>>;

/** A child that may be left out: `condition && element(...)` reads better than spreading arrays. */
export type OptionalXmlNode = XmlNode | false | null | undefined;

/**
 * Builds an element; attributes whose value is undefined, and children that are false, null or
 * undefined, are left out. Names are checked here, values when rendered.
 */
export function element(
  name: string,
  attributes: XmlAttributes = {},
  ...children: OptionalXmlNode[]
): XmlElement {
  checkName(name);
  const kept: (readonly [string, string])[] = [];
  for (const [attribute, value] of Object.entries(attributes)) {
    checkName(attribute);
    if (value !== undefined) kept.push([attribute, String(value)]);
  }
  const present = children.filter(
    (child): child is XmlNode => child !== false && child !== null && child !== undefined,
  );
  return { name, attributes: kept, children: present };
}

/**
 * The document for `root`: an element with only element children puts each on its own line,
 * indented by two spaces; an element with text renders on one line, its text untouched.
 */
export function renderXml(root: XmlElement): string {
  const lines: string[] = [];
  renderElement(root, '', lines);
  return `${lines.join('\n')}\n`;
}

function renderElement(node: XmlElement, indent: string, lines: string[]): void {
  const attributes = node.attributes.map(([name, value]) => ` ${name}="${escapeAttribute(value)}"`).join('');
  const open = `${indent}<${node.name}${attributes}`;
  if (node.children.length === 0) {
    lines.push(`${open}/>`);
  } else if (node.children.some((child) => typeof child === 'string')) {
    lines.push(`${open}>${node.children.map((child) => renderInline(child)).join('')}</${node.name}>`);
  } else {
    lines.push(`${open}>`);
    for (const child of node.children) renderElement(child as XmlElement, `${indent}  `, lines);
    lines.push(`${indent}</${node.name}>`);
  }
}

/** Mixed content: no whitespace may be added, since it would become part of the text. */
function renderInline(node: XmlNode): string {
  if (typeof node === 'string') return escapeText(node);
  const attributes = node.attributes.map(([name, value]) => ` ${name}="${escapeAttribute(value)}"`).join('');
  if (node.children.length === 0) return `<${node.name}${attributes}/>`;
  return `<${node.name}${attributes}>${node.children.map(renderInline).join('')}</${node.name}>`;
}

/**
 * `&` and `<` would start markup, `>` would close a `]]>` that is not allowed in text, and a bare
 * CR would be read back as LF: all four become references.
 */
export function escapeText(text: string): string {
  checkCharacters(text);
  return text.replace(/[&<>\r]/g, (character) => TEXT_REFERENCES[character] ?? character);
}

/**
 * Text escaping plus both quotes, and tab and LF: a parser turns literal whitespace in an
 * attribute into spaces, so only references keep it.
 */
export function escapeAttribute(value: string): string {
  checkCharacters(value);
  return value.replace(/[&<>"'\t\n\r]/g, (character) => ATTRIBUTE_REFERENCES[character] ?? character);
}

const TEXT_REFERENCES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '\r': '&#13;',
};
const ATTRIBUTE_REFERENCES: Readonly<Record<string, string>> = {
  ...TEXT_REFERENCES,
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
};

function checkName(name: string): void {
  if (!isQualifiedName(name))
    throw new XmlError('XML_NAME_INVALID', `${JSON.stringify(name)} is not an XML name`);
}

function checkCharacters(text: string): void {
  const forbidden = NON_XML_CHARACTER.exec(text);
  if (forbidden !== null) {
    const code = (forbidden[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    throw new XmlError(
      'XML_CHARACTER_INVALID',
      `U+${code} at index ${forbidden.index} cannot be written in XML 1.0, not even escaped: remove it from the value`,
    );
  }
}
