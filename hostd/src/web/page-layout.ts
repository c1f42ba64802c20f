import { html } from './html-template.js';
import type { SafeHtml } from './html-template.js';

export const STYLESHEET_PATH = '/assets/web.css';
export const HTMX_SCRIPT_PATH = '/assets/htmx.min.js';

/**
 * A whole page around `body`. htmx is configured by its meta tag: no injected indicator style (the CSP forbids
 * inline style) and no history snapshots (pages are never kept, not even in the browser's storage).
 */
export function pageLayout(title: string, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content="includeIndicatorCSS:false history:false" />
        <meta name="robots" content="noindex, nofollow" />
        <title>${title} · Multiverse</title>
        <link rel="stylesheet" href="${STYLESHEET_PATH}" />
        <script src="${HTMX_SCRIPT_PATH}" defer></script>
      </head>
      <body>
        <header><strong>Multiverse</strong></header>
        <main>${body}</main>
      </body>
    </html> `;
}
