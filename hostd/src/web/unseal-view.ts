import type { UnsealOutcome, VaultStatusReport } from '../vault/index.js';
import { CSRF_FIELD } from './csrf-protection.js';
import { html } from './html-template.js';
import type { SafeHtml } from './html-template.js';

export const UNSEAL_PATH = '/unseal';
export const UNSEAL_PANEL_ID = 'unseal-panel';
export const SHARE_FIELD = 'share';

/** What the last submission did: taken (with the progress it made) or refused (the service's own words). */
export type SubmissionResult =
  | { readonly kind: 'accepted'; readonly outcome: UnsealOutcome }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string; readonly hint: string };

export interface UnsealPanelModel {
  readonly status: VaultStatusReport;
  readonly result?: SubmissionResult;
  readonly csrfToken: string;
}

/** `2 of 3 shares given`: the words every front end uses for unseal progress. */
export function progressText(have: number, need: number): string {
  return `${have} of ${need} share${need === 1 ? '' : 's'} given`;
}

function listIndices(indices: readonly number[]): string {
  return indices.length === 0 ? '' : ` (share${indices.length === 1 ? '' : 's'} ${indices.join(', ')})`;
}

/** Service hints are written to follow a colon (`a typo: fix the line…`); on their own line they start a sentence. */
function sentence(text: string): string {
  const capitalised = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

function resultMessage(result: SubmissionResult | undefined): SafeHtml | undefined {
  if (result === undefined) return undefined;
  if (result.kind === 'refused') {
    return html`<div class="message error" role="alert" id="unseal-result">
      <p><strong>Share not accepted.</strong> ${result.message}</p>
      <p class="hint">${sentence(result.hint)}</p>
      <p class="code">${result.code}</p>
    </div>`;
  }
  const { outcome } = result;
  if (outcome.unsealed) {
    const inconsistent =
      outcome.inconsistent.length === 0
        ? undefined
        : html`<p>
            Share${outcome.inconsistent.length === 1 ? '' : 's'} ${outcome.inconsistent.join(', ')} did not
            fit the key: their holders need new shares (the owner runs a rekey).
          </p>`;
    return html`<div class="message ok" role="status" id="unseal-result">
      <p><strong>Share accepted: the vault is unsealed.</strong></p>
      ${inconsistent}
    </div>`;
  }
  return html`<div class="message ok" role="status" id="unseal-result">
    <p>
      <strong
        >Share accepted: ${progressText(outcome.have, outcome.need)}${listIndices(outcome.indices)}.</strong
      >
    </p>
    <p>The next custodian pastes their share here.</p>
  </div>`;
}

function vaultFacts(status: VaultStatusReport, progress: SafeHtml | undefined): SafeHtml {
  return html`<dl class="facts">
    <dt>Vault</dt>
    <dd class="vault-id" id="vault-id">${status.vaultId ?? '—'}</dd>
    <dt>State</dt>
    <dd id="vault-state">${status.state}</dd>
    ${progress}
  </dl>`;
}

/** The form starts empty every time it is drawn: a share typed or pasted is never sent back to the browser. */
function shareForm(csrfToken: string): SafeHtml {
  return html`<form
    method="post"
    action="${UNSEAL_PATH}"
    hx-post="${UNSEAL_PATH}"
    hx-target="#${UNSEAL_PANEL_ID}"
    hx-swap="outerHTML"
  >
    <input type="hidden" name="${CSRF_FIELD}" value="${csrfToken}" />
    <label for="share">Your share</label>
    <textarea
      id="share"
      name="${SHARE_FIELD}"
      rows="8"
      required
      autocomplete="off"
      autocapitalize="off"
      autocorrect="off"
      spellcheck="false"
      placeholder="# Multiverse vault share…&#10;1: …"
    ></textarea>
    <p class="help">
      Paste the whole share as printed (the lines starting with # may come along), or type its lines. One
      share per submission; it is checked line by line and never shown again.
    </p>
    <button type="submit">Submit share</button>
  </form>`;
}

/** The part of the page htmx replaces after each submission. */
export function unsealPanel({ status, result, csrfToken }: UnsealPanelModel): SafeHtml {
  const message = resultMessage(result);
  switch (status.state) {
    case 'unsealed':
      return html`<section class="panel" id="${UNSEAL_PANEL_ID}">
        ${message}${vaultFacts(status, undefined)}
        <p>The vault is unsealed. There is nothing to do here.</p>
      </section>`;
    case 'uninitialised':
      return html`<section class="panel" id="${UNSEAL_PANEL_ID}">
        ${message}
        <p>This host has no vault yet: its owner creates one with <code>mvctl vault init</code>.</p>
      </section>`;
    case 'damaged':
      return html`<section class="panel" id="${UNSEAL_PANEL_ID}">
        ${message}${vaultFacts(status, undefined)}
        <div class="message error" role="alert">
          <p>The vault file is damaged: ${status.problem?.message ?? 'unknown damage'}</p>
          <p class="hint">Its owner restores it from a backup; no share can be taken until then.</p>
        </div>
      </section>`;
    case 'sealed': {
      const need = status.unseal?.need ?? status.threshold ?? 0;
      const have = status.unseal?.have ?? 0;
      const progress = html`<dt>Progress</dt>
        <dd class="progress" id="unseal-progress">
          ${progressText(have, need)}${listIndices(status.unseal?.indices ?? [])}
        </dd>
        <dt>Shares</dt>
        <dd>any ${status.threshold} of ${status.shares} unseal it</dd>`;
      return html`<section class="panel" id="${UNSEAL_PANEL_ID}">
        ${message}${vaultFacts(status, progress)} ${shareForm(csrfToken)}
      </section>`;
    }
  }
}

/** A submission refused before it reached the vault (too many, too large, not from this page). */
export function refusalPanel(title: string, detail: string): SafeHtml {
  return html`<section class="panel" id="${UNSEAL_PANEL_ID}">
    <div class="message error" role="alert" id="unseal-result">
      <p><strong>${title}</strong> ${detail}</p>
    </div>
    <p><a href="${UNSEAL_PATH}">Back to the unseal page</a></p>
  </section>`;
}

export function unsealPageBody(panel: SafeHtml): SafeHtml {
  return html`<h1>Unseal the vault</h1>
    ${panel}`;
}
