/**
 * Test support: libvirt's and libxml2's own tools as independent judges of what the writer
 * produces (`virt-xml-validate` from libvirt-clients, `xmllint` from libxml2-utils).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { XmlElement, XmlNode } from '../xml-writer.js';

interface ToolResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(command: string, args: readonly string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(
            new Error(
              `${command} could not be run (${error.message}): install it (see vm-templates/README.md)`,
            ),
          );
          return;
        }
        resolve({ exitCode: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

export async function withTemporaryDirectory<T>(work: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'mv-domain-xml-'));
  try {
    return await work(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Validates against libvirt's RelaxNG schema for domains; throws with the validator's report. */
export async function assertValidDomainXml(xml: string): Promise<void> {
  await withTemporaryDirectory(async (directory) => {
    const file = join(directory, 'domain.xml');
    await writeFile(file, xml);
    const result = await run('virt-xml-validate', [file, 'domain']);
    if (result.exitCode !== 0) {
      throw new Error(`virt-xml-validate rejected the domain XML:\n${result.stderr}${result.stdout}\n${xml}`);
    }
  });
}

/**
 * libxml2's canonical form (C14N) of a document. `--noblanks` drops the indentation between
 * elements; libxml2 keeps whitespace that is an element's only content, so no value is lost.
 */
export async function libxmlCanonicalForm(xml: string): Promise<string> {
  const result = await run('xmllint', ['--noblanks', '--c14n', '-'], xml);
  if (result.exitCode !== 0)
    throw new Error(`xmllint could not parse the document:\n${result.stderr}\n${xml}`);
  return result.stdout;
}

/**
 * The canonical form (C14N 1.0) of the tree the writer was given, computed here without the
 * writer: equal to libxml2's canonical form of the written document exactly when libxml2 read
 * back the same elements, attributes and text.
 */
export function canonicalFormOf(root: XmlElement): string {
  const declarations = root.attributes.filter(([name]) => name === 'xmlns' || name.startsWith('xmlns:'));
  const attributes = root.attributes.filter(([name]) => !(name === 'xmlns' || name.startsWith('xmlns:')));
  const byName = (a: readonly [string, string], b: readonly [string, string]) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
  const rendered = [...declarations.sort(byName), ...attributes.sort(byName)]
    .map(([name, value]) => ` ${name}="${canonicalAttribute(value)}"`)
    .join('');
  const children = root.children.map((child: XmlNode) =>
    typeof child === 'string' ? canonicalText(child) : canonicalFormOf(child),
  );
  return `<${root.name}${rendered}>${children.join('')}</${root.name}>`;
}

function canonicalText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');
}

function canonicalAttribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#x9;')
    .replace(/\n/g, '&#xA;')
    .replace(/\r/g, '&#xD;');
}
