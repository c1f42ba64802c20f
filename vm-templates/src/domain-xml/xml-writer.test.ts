import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalFormOf, libxmlCanonicalForm } from './test-support/libxml-tools.js';
import { NON_XML_CHARACTER } from './xml-characters.js';
import { XmlError } from './xml-error.js';
import { parseXml } from './xml-reader.js';
import type { ParsedElement } from './xml-reader.js';
import { element, escapeAttribute, escapeText, renderXml } from './xml-writer.js';
import type { XmlElement, XmlNode } from './xml-writer.js';

describe('XML writer', () => {
  it('escapes markup in text and attributes', () => {
    assert.equal(escapeText(`a<b>&]]>\r--"'`), `a&lt;b&gt;&amp;]]&gt;&#13;--"'`);
    assert.equal(escapeAttribute(`<"'&>\t\n\r`), '&lt;&quot;&apos;&amp;&gt;&#9;&#10;&#13;');
  });

  it('renders element-only content indented and text inline', () => {
    const xml = renderXml(
      element(
        'a',
        { x: '1', skipped: undefined },
        element('b', {}, 'text\n  kept'),
        false,
        null,
        element('c'),
      ),
    );
    assert.equal(xml, '<a x="1">\n  <b>text\n  kept</b>\n  <c/>\n</a>\n');
  });

  it('refuses characters XML cannot carry and names that are not XML names', () => {
    assert.throws(() => renderXml(element('a', {}, 'bell\u0007')), {
      name: 'XmlError',
      code: 'XML_CHARACTER_INVALID',
      message: 'U+0007 at index 4 cannot be written in XML 1.0, not even escaped: remove it from the value',
    });
    assert.throws(() => escapeAttribute('lone \ud800'), { code: 'XML_CHARACTER_INVALID' });
    for (const name of ['', '1a', 'a b', 'a>', 'a:b:c', ':a', 'a"']) {
      assert.throws(
        () => element(name),
        (error: unknown) => error instanceof XmlError && error.code === 'XML_NAME_INVALID',
      );
    }
  });
});

/** Any Unicode scalar value XML 1.0 allows, with markup characters and sequences made likely. */
const xmlCharacter = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '<',
      '>',
      '&',
      '"',
      "'",
      ']]>',
      '--',
      '\n',
      '\r',
      '\r\n',
      '\t',
      ' ',
      '&amp;',
      '<!--',
      '<![CDATA[',
      '/>',
      '=',
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
);
const xmlText = fc
  .array(xmlCharacter, { maxLength: 12 })
  .map((parts) => parts.join('').replace(new RegExp(NON_XML_CHARACTER.source, 'gu'), '?'));

const elementName = fc.constantFrom('a', 'b', 'mv:c', 'd-e', 'f.g', '_h', 'ü');
const attributeNames = fc.uniqueArray(fc.constantFrom('id', 'name', 'x-y', 'z.w', 'v_1'), { maxLength: 4 });

/** Trees like the generator's: every element holds either text only or elements only. */
const xmlTree: fc.Arbitrary<XmlElement> = fc
  .letrec<{ tree: XmlElement }>((tie) => ({
    tree: fc
      .tuple(
        elementName,
        attributeNames.chain((names) =>
          fc.tuple(...names.map((name) => fc.tuple(fc.constant(name), xmlText))),
        ),
        fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          fc.constant<XmlNode[]>([]),
          xmlText.map((text): XmlNode[] => [text]),
          fc.array(tie('tree'), { maxLength: 3 }),
        ),
      )
      .map(([name, attributes, children]) =>
        element(name, Object.fromEntries(attributes), ...(children as XmlNode[])),
      ),
  }))
  .tree.map((tree) => element('root', { 'xmlns:mv': 'https://multiverse.invalid/xmlns/test' }, tree));

/**
 * The parsed tree in the writer's terms. Generated elements hold text only or elements only, so
 * text beside elements can only be the writer's indentation.
 */
function asWritten(parsed: ParsedElement): XmlElement {
  const hasElements = parsed.children.some((child) => typeof child !== 'string');
  const children = parsed.children.flatMap((child): XmlNode[] => {
    if (typeof child !== 'string') return [asWritten(child)];
    if (!hasElements) return [child];
    assert.match(child, /^\n *$/, 'only indentation may sit between elements');
    return [];
  });
  const declarations = parsed.name === 'root' ? { 'xmlns:mv': 'https://multiverse.invalid/xmlns/test' } : {};
  const attributes = Object.fromEntries(
    parsed.attributes.map((attribute) => [attribute.name, attribute.value]),
  );
  return element(parsed.name, { ...declarations, ...attributes }, ...children);
}

/** The tree as a reader sees it: a text child of '' is no child at all. */
function withoutEmptyText(tree: XmlElement): XmlElement {
  const children = tree.children
    .filter((child) => child !== '')
    .map((child) => (typeof child === 'string' ? child : withoutEmptyText(child)));
  return { ...tree, children };
}

describe('escaping, property-based', () => {
  it('reads back every tree exactly (our reader)', () => {
    fc.assert(
      fc.property(xmlTree, (tree) => {
        const parsed = parseXml(renderXml(tree));
        assert.deepEqual(asWritten(parsed), withoutEmptyText(tree));
      }),
      { numRuns: 500 },
    );
  });

  it('reads back every tree exactly (libxml2, compared in canonical form)', async () => {
    // One xmllint process per run: kept few, each tree is large enough to mix every case.
    await fc.assert(
      fc.asyncProperty(fc.array(xmlTree, { minLength: 5, maxLength: 10 }), async (trees) => {
        const document = element('all', {}, ...trees);
        assert.equal(
          await libxmlCanonicalForm(renderXml(document)),
          canonicalFormOf(withoutEmptyText(document)),
        );
      }),
      { numRuns: 25 },
    );
  });

  it('refuses every value with a character XML cannot carry', () => {
    const forbidden = fc.constantFrom(
      '\u0000',
      '\u0001',
      '\u0008',
      '\u000b',
      '\u000c',
      '\u001b',
      '\u001f',
      '\ud800',
      '\udfff',
      '\ufffe',
      '\uffff',
    );
    fc.assert(
      fc.property(xmlText, forbidden, xmlText, (before, bad, after) => {
        const value = `${before}${bad}${after}`;
        assert.throws(() => escapeText(value), { code: 'XML_CHARACTER_INVALID' });
        assert.throws(() => escapeAttribute(value), { code: 'XML_CHARACTER_INVALID' });
      }),
      { numRuns: 200 },
    );
  });
});
