import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TemplateError } from './template-error.js';
import { parseTemplate } from './template-loader.js';

const APP = `name: app
role: app
image: debian
boot: disk
vcpus: 2
memory: 2GiB
disks:
  root: 10GiB
  private: 4GiB
router: sys-tor
`;

function messageOf(text: string): string {
  try {
    parseTemplate({ file: 'templates/app.yaml', text, format: 'yaml' });
  } catch (error) {
    assert.ok(error instanceof TemplateError, `expected a TemplateError, got ${String(error)}`);
    assert.equal(error.code, 'TEMPLATE_INVALID');
    return error.message;
  }
  assert.fail(`expected the template to be rejected:\n${text}`);
}

describe('template field "encrypted"', () => {
  it('defaults to false and reads true', () => {
    assert.equal(parseTemplate({ file: 'app.yaml', text: APP, format: 'yaml' }).encrypted, false);
    const encrypted = parseTemplate({ file: 'app.yaml', text: `${APP}encrypted: true\n`, format: 'yaml' });
    assert.equal(encrypted.encrypted, true);
  });

  it('refuses what is not a boolean, with the line', () => {
    assert.match(messageOf(`${APP}encrypted: yes\n`), /^templates\/app\.yaml:11: encrypted: .*got "yes"/);
  });

  it('refuses encryption of a template without volumes, saying why', () => {
    const fallback = `name: fallback
role: fallback
image: tiny
boot: kernel
vcpus: 1
memory: 128MiB
router: none
encrypted: true
`;
    assert.match(
      messageOf(fallback),
      /encrypted: this template has no volume \(root, private or volatile\) a VM would write, so there is nothing to encrypt/,
    );
  });
});
