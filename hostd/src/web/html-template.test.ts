import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SafeHtml, escapeHtml, html } from './html-template.js';

describe('html template', () => {
  it('escapes every interpolated string, in content and in quoted attributes', () => {
    const hostile = `<script>alert("x")</script>' onmouseover='x' \`&amp;`;
    assert.equal(
      html`<p title="${hostile}">${hostile}</p>`.toString(),
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x&#39; &#96;&amp;amp;">' +
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x&#39; &#96;&amp;amp;</p>',
    );
  });

  it('keeps nested fragments, joins arrays and renders nothing for null, undefined and false', () => {
    const items = ['a<b', 'c'].map((item) => html`<li>${item}</li>`);
    // Prettier would lay the markup out on lines; this test compares it byte for byte.
    // prettier-ignore
    const list = html`<ul>${items}</ul>${null}${undefined}${false}${0}`;
    assert.equal(list.toString(), '<ul><li>a&lt;b</li><li>c</li></ul>0');
  });

  it('cannot be handed raw markup: SafeHtml is made by html`…` only', () => {
    assert.throws(() => new SafeHtml(Symbol('html-template') as never, '<b>'), /SafeHtml is made by html/);
  });

  it('leaves no markup character unescaped in any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const rendered = html`${text}`.toString();
        assert.equal(rendered, escapeHtml(text));
        assert.ok(!/[<>"'`]/.test(rendered));
        // Decoding the entities gives the text back: nothing was dropped or merged.
        const entities: Record<string, string> = {
          amp: '&',
          lt: '<',
          gt: '>',
          quot: '"',
          '#39': "'",
          '#96': '`',
        };
        assert.equal(
          rendered.replace(/&(amp|lt|gt|quot|#39|#96);/g, (_entity, name: string) => entities[name] ?? '?'),
          text,
        );
      }),
    );
  });
});
