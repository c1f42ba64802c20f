/**
 * The web UI's one stylesheet, served as `/assets/web.css` (the CSP allows no inline style). System fonts only:
 * nothing is fetched from elsewhere. Readable on a phone: one column, large touch targets.
 */
export const WEB_STYLESHEET = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #ffffff; --muted: #5a6572;
  --line: #d5dae0; --accent: #1f5fbf; --ok: #1d7a3a; --bad: #b3261e; --ok-bg: #e7f5ec; --bad-bg: #fdecea; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e9ed; --bg: #14171b; --card: #1d2127; --muted: #a0a9b4; --line: #343a42;
    --accent: #7aa7ff; --ok: #6fd08c; --bad: #ff8a80; --ok-bg: #17301f; --bad-bg: #3a1d1b; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
header { padding: 0.75rem 1rem; border-bottom: 1px solid var(--line); background: var(--card); }
header strong { font-size: 1.05rem; }
main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0.5rem 0 1rem; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0 0 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
.vault-id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.progress { font-size: 1.25rem; font-weight: 600; }
.message { border-radius: 6px; padding: 0.75rem 1rem; margin: 0 0 1rem; border: 1px solid; }
.message p { margin: 0.25rem 0; }
.message .code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85rem; }
.message.ok { color: var(--ok); background: var(--ok-bg); border-color: var(--ok); }
.message.error { color: var(--bad); background: var(--bad-bg); border-color: var(--bad); }
.message .hint { color: var(--fg); }
label { display: block; font-weight: 600; margin-bottom: 0.35rem; }
textarea { display: block; width: 100%; min-height: 11rem; padding: 0.6rem; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: var(--fg); resize: vertical;
  font: 15px/1.45 ui-monospace, "DejaVu Sans Mono", monospace; }
textarea:focus, button:focus { outline: 3px solid var(--accent); outline-offset: 1px; }
.help { color: var(--muted); font-size: 0.9rem; margin: 0.35rem 0 1rem; }
button { font: inherit; font-weight: 600; padding: 0.65rem 1.4rem; border: 0; border-radius: 6px;
  background: var(--accent); color: #fff; cursor: pointer; min-height: 44px; }
@media (prefers-color-scheme: dark) { button { color: #0d1117; } }
form.htmx-request button { opacity: 0.6; cursor: progress; }
`;
