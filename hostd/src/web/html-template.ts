/** Held only by this module: without it no code elsewhere can turn a string into SafeHtml. */
const BUILT_HERE = Symbol('html-template');

/**
 * Markup that is already safe: built only by `html`, which escapes every interpolated value. A plain string
 * can never become one, so a value cannot reach a page unescaped by mistake.
 */
export class SafeHtml {
  readonly #markup: string;

  constructor(token: typeof BUILT_HERE, markup: string) {
    if (token !== BUILT_HERE) throw new TypeError('SafeHtml is made by html`…` only');
    this.#markup = markup;
  }

  toString(): string {
    return this.#markup;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text safe in element content and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (character) => ESCAPES[character] ?? character);
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(value));
}

/**
 * The one way pages are written: `html\`<p>${text}</p>\``. Strings and numbers are escaped, SafeHtml (a nested
 * `html` fragment) is kept, arrays are joined, null/undefined/false render nothing. Attribute values must be
 * quoted in the template: escaping covers both quote characters, not an unquoted attribute.
 */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let markup = strings[0] ?? '';
  values.forEach((value, position) => {
    markup += render(value) + (strings[position + 1] ?? '');
  });
  return new SafeHtml(BUILT_HERE, markup);
}
