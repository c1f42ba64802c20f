import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XmlError } from './xml-error.js';
import { attributeOf, elementsOf, parseXml, textOf } from './xml-reader.js';

describe('XML reader', () => {
  it('reads declarations, comments, CDATA, references and namespaces', () => {
    const root = parseXml(
      '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<!-- c -->\n<?pi data?>\n' +
        '<d xmlns="urn:default" xmlns:p="urn:p" a="1&#10;2\t3&amp;">' +
        '<p:e p:x="y" x="z">t&lt;<![CDATA[<raw>&amp;]]>&#x1F642;<!-- skipped -->&#65;</p:e>\r\n<f/></d>\n<!-- after -->',
    );
    assert.equal(root.namespace, 'urn:default');
    assert.equal(attributeOf(root, 'a'), '1\n2 3&', 'literal tab normalised, referenced newline kept');
    const [e, f] = elementsOf(root);
    assert.ok(e !== undefined && f !== undefined);
    assert.equal(e.namespace, 'urn:p');
    assert.equal(e.localName, 'e');
    assert.equal(attributeOf(e, 'x', 'urn:p'), 'y');
    assert.equal(attributeOf(e, 'x'), 'z', 'unprefixed attributes are in no namespace');
    assert.equal(textOf(e), 't<<raw>&amp;🙂A');
    assert.equal(f.namespace, 'urn:default');
    assert.deepEqual(root.children[1], '\n', 'CR LF is read as LF');
  });

  it('reads a lone CR as LF, as XML requires', () => {
    assert.equal(textOf(parseXml('<a>x\ry</a>')), 'x\ny');
    assert.equal(textOf(parseXml('<a>x&#13;y</a>')), 'x\ry');
  });

  const malformed: [string, string, string][] = [
    [
      'a DOCTYPE',
      '<!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>',
      'line 1, column 1: document type declarations are not accepted (they can define entities); remove the <!DOCTYPE>',
    ],
    [
      'an undefined entity',
      '<d>&nbsp;</d>',
      'line 1, column 4: unknown entity &nbsp;: only the five predefined ones exist without a DTD',
    ],
    ['a bare ampersand', '<d>a & b</d>', 'line 1, column 6: "&" must start a reference such as &amp;'],
    ['a reference to a non-character', '<d>&#0;</d>', 'line 1, column 4: &#0; is not an XML character'],
    ['a raw control character', '<d>\u0001</d>', 'line 1, column 4: U+0001 is not an XML character'],
    ['mismatched tags', '<a><b></a></b>', 'line 1, column 7: </a> closes <b>'],
    ['an unclosed element', '<a><b></b>', 'line 1, column 11: <a> is not closed'],
    ['"]]>" in text', '<a>x]]>y</a>', 'line 1, column 5: "]]>" is not allowed in text'],
    ['"<" in an attribute', '<a x="<"/>', 'line 1, column 7: "<" is not allowed in an attribute value'],
    ['a repeated attribute', '<a x="1" x="2"/>', 'line 1, column 10: attribute x appears twice in <a>'],
    [
      'the same attribute through two prefixes',
      '<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>',
      'line 1, column 1: attributes of <a> repeat the name {u}x',
    ],
    ['an undeclared prefix', '<p:a/>', 'line 1, column 1: the prefix of p:a is not declared'],
    [
      'attributes without space between them',
      '<a x="1"y="2"/>',
      'line 1, column 9: expected whitespace, ">" or "/>" in the tag <a>',
    ],
    ['two root elements', '<a/><b/>', 'line 1, column 5: content after the root element'],
    [
      '"--" in a comment',
      '<a><!-- x -- y --></a>',
      'line 1, column 11: "--" is not allowed inside a comment',
    ],
    [
      'a misplaced XML declaration',
      '<a/><?xml version="1.0"?>',
      'line 1, column 10: an XML declaration may only start the document',
    ],
    ['no root element', '<!-- only -->', 'line 1, column 14: expected the root element'],
  ];
  for (const [name, xml, message] of malformed) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => parseXml(xml),
        (error: unknown) => {
          assert.ok(error instanceof XmlError);
          assert.equal(error.code, 'XML_MALFORMED');
          assert.equal(error.message, message);
          return true;
        },
      );
    });
  }

  it('bounds size and depth', () => {
    assert.throws(() => parseXml('<a/>', { maxLength: 3, maxDepth: 8 }), { code: 'XML_LIMIT_EXCEEDED' });
    const deep = `${'<a>'.repeat(9)}${'</a>'.repeat(9)}`;
    assert.throws(() => parseXml(deep, { maxLength: 1000, maxDepth: 8 }), /elements nested deeper than 8/);
    assert.equal(
      parseXml(`${'<a>'.repeat(8)}${'</a>'.repeat(8)}`, { maxLength: 1000, maxDepth: 8 }).name,
      'a',
    );
  });

  it('tells text-only from element-only content', () => {
    assert.throws(() => textOf(parseXml('<a><b/></a>')), /<a> must hold only text, but holds <b>/);
    assert.throws(
      () => elementsOf(parseXml('<a><b/>x</a>')),
      /<a> must hold only elements, but holds text "x"/,
    );
  });
});
