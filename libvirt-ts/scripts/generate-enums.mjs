#!/usr/bin/env node
// Writes src/generated/enums.ts from libvirt's API description (libvirt-api.xml, shipped by libvirt-dev).
//
//   node libvirt-ts/scripts/generate-enums.mjs [path/to/libvirt-api.xml]
//
// Every <enum> becomes a member of a `const` object named after its C type without the `vir` prefix
// (virDomainState -> DomainState), keyed by its name without the prefix all members share
// (VIR_DOMAIN_RUNNING -> RUNNING), with libvirt's own description as the doc comment. `*_LAST` sentinels
// are left out: libvirt documents that they change between releases. The output is deterministic, so
// regenerating from the same XML changes nothing.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const DEFAULT_SOURCE = '/usr/share/libvirt/api/libvirt-api.xml';
const source = process.argv[2] ?? DEFAULT_SOURCE;
const output = join(dirname(new URL(import.meta.url).pathname), '..', 'src', 'generated', 'enums.ts');

const ENTITIES = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity) => {
    if (entity[0] === '#') {
      const code =
        entity[1] === 'x' || entity[1] === 'X'
          ? parseInt(entity.slice(2), 16)
          : parseInt(entity.slice(1), 10);
      return String.fromCodePoint(code);
    }
    if (!(entity in ENTITIES)) throw new Error(`unknown XML entity ${whole}`);
    return ENTITIES[entity];
  });
}

/** Text content: CDATA sections verbatim, everything else with entities decoded. */
function readText(content) {
  return content
    .split(/(<!\[CDATA\[[\s\S]*?\]\]>)/)
    .map((part) => (part.startsWith('<![CDATA[') ? part.slice(9, -3) : decodeEntities(part)))
    .join('');
}

/** Reads the attributes of the tag whose name ends at `start`; returns them and where the tag ends. */
function readAttributes(xml, start) {
  const attributes = {};
  const pattern = /\s*(?:([\w:-]+)\s*=\s*(?:'([^']*)'|"([^"]*)")|(\/?>))/y;
  pattern.lastIndex = start;
  for (;;) {
    const match = pattern.exec(xml);
    if (!match) throw new Error(`malformed tag near offset ${start}: ${xml.slice(start, start + 80)}`);
    if (match[4]) return { attributes, end: pattern.lastIndex, selfClosing: match[4] === '/>' };
    attributes[match[1]] = decodeEntities(match[2] ?? match[3]);
  }
}

/** Every `<tag ...>` in the document, with its attributes and (for non-empty tags) its `<info>` text. */
function elements(xml, tag) {
  const found = [];
  const open = new RegExp(`<${tag}(?=[\\s/>])`, 'g');
  for (let match = open.exec(xml); match; match = open.exec(xml)) {
    const { attributes, end, selfClosing } = readAttributes(xml, match.index + match[0].length);
    let info;
    if (!selfClosing) {
      const close = xml.indexOf(`</${tag}>`, end);
      if (close < 0) throw new Error(`<${tag} name='${attributes.name}'> is never closed`);
      const body = /<info>([\s\S]*?)<\/info>/.exec(xml.slice(end, close));
      if (body) info = readText(body[1]);
    }
    found.push({ attributes, info });
    open.lastIndex = end;
  }
  return found;
}

function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** The longest run of whole `_`-separated words all names share, leaving each name at least one word. */
function commonPrefix(names) {
  const split = names.map((name) => name.split('_'));
  const shortest = Math.min(...split.map((words) => words.length));
  let length = 0;
  while (length < shortest - 1 && split.every((words) => words[length] === split[0][length])) length++;
  // Keys must be identifiers: give back words until no key starts with a digit.
  while (length > 0 && split.some((words) => /^[0-9]/.test(words[length]))) length--;
  return length === 0 ? '' : split[0].slice(0, length).join('_') + '_';
}

function docComment(text, indent, since) {
  const lines = (text ?? '')
    .replace(/\*\//g, '*\\/')
    .split('\n')
    .map((line) => line.trim())
    .filter((line, index, all) => line !== '' || (index > 0 && index < all.length - 1));
  if (since) lines.push(`@since libvirt ${since}`);
  if (lines.length === 0) return '';
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((line) => `${indent} *${line ? ' ' + line : ''}`).join('\n')}\n${indent} */\n`;
}

const xml = readFileSync(source, 'utf8');
const enums = elements(xml, 'enum').map(({ attributes }) => attributes);
const typedefs = new Map(
  elements(xml, 'typedef')
    .filter(({ attributes }) => attributes.type === 'enum')
    .map(({ attributes, info }) => [attributes.name, info]),
);
if (enums.length === 0) throw new Error(`${source} holds no <enum> elements: is it libvirt-api.xml?`);

const valueByName = new Map();
function resolve(name, seen = new Set()) {
  if (valueByName.has(name)) return valueByName.get(name);
  const entry = enums.find((candidate) => candidate.name === name);
  if (!entry) throw new Error(`enum value refers to unknown name ${name}`);
  if (seen.has(name)) throw new Error(`enum ${name} refers to itself`);
  seen.add(name);
  const value = /^-?[0-9]+$/.test(entry.value) ? Number(entry.value) : resolve(entry.value, seen);
  valueByName.set(name, value);
  return value;
}

const byType = new Map();
let newest = '0';
for (const entry of enums) {
  if (!entry.type) throw new Error(`enum ${entry.name} has no type`);
  if (entry.version && compareVersions(entry.version, newest) > 0) newest = entry.version;
  if (!byType.has(entry.type)) byType.set(entry.type, []);
  byType.get(entry.type).push({ ...entry, value: resolve(entry.name) });
}

const NAME_TABLES = { virErrorNumber: 'ERROR_NUMBER_NAMES', virErrorDomain: 'ERROR_DOMAIN_NAMES' };

let out = `// Generated by libvirt-ts/scripts/generate-enums.mjs from libvirt-api.xml (symbols up to libvirt ${newest}).
// Do not edit by hand. To regenerate (needs libvirt-dev for the XML):
//   node libvirt-ts/scripts/generate-enums.mjs [/usr/share/libvirt/api/libvirt-api.xml]
// Each libvirt C enum type virFooBar becomes the const object FooBar and the type FooBar of its values.
// The *_LAST sentinels are omitted: libvirt changes them between releases.
`;
const tables = [];
for (const type of [...byType.keys()].sort()) {
  const members = byType
    .get(type)
    .filter((member) => !member.name.endsWith('_LAST'))
    .sort((a, b) => a.value - b.value || a.name.localeCompare(b.name));
  if (members.length === 0) continue;
  const constName = type.replace(/^vir/, '');
  const prefix = commonPrefix(members.map((member) => member.name));
  out += '\n' + docComment(typedefs.get(type) ?? `\`${type}\``, '');
  out += `export const ${constName} = {\n`;
  for (const member of members) {
    out += docComment(member.info, '  ', member.version);
    out += `  ${member.name.slice(prefix.length)}: ${member.value},\n`;
  }
  out += `} as const;\n`;
  out += `export type ${constName} = (typeof ${constName})[keyof typeof ${constName}];\n`;
  if (NAME_TABLES[type]) {
    const entries = new Map();
    for (const member of members) if (!entries.has(member.value)) entries.set(member.value, member.name);
    tables.push(
      `\n/** libvirt's name of each \`${type}\` value, e.g. for error messages and logs. */\n` +
        `export const ${NAME_TABLES[type]}: Readonly<Record<number, string>> = {\n` +
        [...entries].map(([value, name]) => `  ${value}: '${name}',\n`).join('') +
        `};\n`,
    );
  }
}
out += tables.join('');

mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, out);
console.log(
  `wrote ${output}: ${byType.size} enum types, ${enums.length} values, symbols up to libvirt ${newest}`,
);
