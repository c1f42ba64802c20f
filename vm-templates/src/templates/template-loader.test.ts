import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TemplateError } from './template-error.js';
import {
  MAX_TEMPLATE_BYTES,
  loadTemplateDirectory,
  loadTemplateFile,
  parseTemplate,
  shippedTemplatesDirectory,
} from './template-loader.js';
import { VM_ROLES } from './template-schema.js';

const GIB = 2 ** 30;
const MIB = 2 ** 20;

/** A valid app template; cases replace or drop lines of it. */
const APP = `name: app
description: Work VM.
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

function errorOf(text: string, format: 'yaml' | 'json' = 'yaml', file = 'templates/app.yaml'): TemplateError {
  try {
    parseTemplate({ file, text, format });
  } catch (error) {
    assert.ok(error instanceof TemplateError, `expected a TemplateError, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected the template to be rejected:\n${text}`);
}

function edit(replacements: Record<string, string | null>, extra = ''): string {
  const lines = APP.split('\n').map((line) => {
    const key = /^ *([A-Za-z]+):/.exec(line)?.[1];
    return key !== undefined && key in replacements ? replacements[key] : line;
  });
  return lines.filter((line): line is string => line !== null).join('\n') + extra;
}

describe('shipped templates', () => {
  it('all load, one per role plus the app behind the onion device, each named after its file', async () => {
    const templates = await loadTemplateDirectory(shippedTemplatesDirectory());
    assert.deepEqual([...new Set(templates.map((template) => template.role))].sort(), [...VM_ROLES].sort());
    assert.equal(templates.length, VM_ROLES.length + 1);
    const onion = templates.find((template) => template.name === 'app-onion');
    assert.deepEqual([onion?.role, onion?.router, onion?.image.name], ['app', 'onion', 'debian']);
  });

  it('give routers no private volume and disposables throw-away volumes', async () => {
    const byRole = new Map(
      (await loadTemplateDirectory(shippedTemplatesDirectory())).map((t) => [t.role, t]),
    );
    assert.equal(byRole.get('router')?.diskBytes.private, null);
    assert.equal(byRole.get('router')?.tunnel, 'tor');
    assert.equal(byRole.get('disposable')?.ephemeral, true);
    assert.equal(byRole.get('fallback')?.image.name, 'tiny');
    assert.equal(byRole.get('controller')?.ephemeral, false);
  });
});

describe('parseTemplate', () => {
  it('turns a valid file into base units and fills in defaults', () => {
    const template = parseTemplate({ file: 'app.yaml', text: APP, format: 'yaml' });
    assert.deepEqual(template, {
      name: 'app',
      description: 'Work VM.',
      role: 'app',
      tunnel: null,
      image: { name: 'debian', sha256: null },
      vcpus: 2,
      memoryBytes: 2 * GIB,
      pinning: 'shared',
      diskBytes: { root: 10 * GIB, private: 4 * GIB, volatile: null },
      router: 'sys-tor',
      boot: 'disk',
      autostart: false,
      ephemeral: false,
      encrypted: false,
      readyTimeoutSeconds: 60,
    });
  });

  it('reads a pinned image and JSON', () => {
    const sha = 'ab'.repeat(32);
    const json = JSON.stringify({
      name: 'fallback',
      role: 'fallback',
      image: `tiny@${sha}`,
      boot: 'kernel',
      vcpus: 1,
      memory: '192MiB',
      router: 'none',
      readyTimeout: '2m',
    });
    const template = parseTemplate({ file: 'fallback.json', text: json, format: 'json' });
    assert.deepEqual(template.image, { name: 'tiny', sha256: sha });
    assert.equal(template.memoryBytes, 192 * MIB);
    assert.equal(template.router, null);
    assert.equal(template.ephemeral, true);
    assert.equal(template.readyTimeoutSeconds, 120);
  });

  const badFiles: { name: string; text: string; code?: string; messages: string[] }[] = [
    {
      name: 'vcpus as a word',
      text: edit({ vcpus: 'vcpus: four' }),
      messages: ['templates/app.yaml:6: vcpus: must be an integer from 1 to 64, got "four"'],
    },
    {
      name: 'vcpus out of range and fractional',
      text: edit({ vcpus: 'vcpus: 65', memory: 'memory: 1.5GiB' }),
      messages: [
        'templates/app.yaml:6: vcpus: must be an integer from 1 to 64, got 65',
        'templates/app.yaml:7: memory: must be a size with a unit (KiB, MiB, GiB or TiB) that is a whole number of MiB from 64MiB to 1TiB, got "1.5GiB"',
      ],
    },
    {
      name: 'memory without a unit',
      text: edit({ memory: 'memory: 2048' }),
      messages: [
        'templates/app.yaml:7: memory: must be a size with a unit (KiB, MiB, GiB or TiB) that is a whole number of MiB from 64MiB to 1TiB, got 2048',
      ],
    },
    {
      name: 'a missing required field',
      text: edit({ role: null }),
      messages: [
        'templates/app.yaml: role: required: must be one of controller, router, app, utility, disposable, fallback',
      ],
    },
    {
      name: 'an unknown role',
      text: edit({ role: 'role: workstation' }),
      messages: [
        'templates/app.yaml:3: role: must be one of controller, router, app, utility, disposable, fallback, got "workstation"',
      ],
    },
    {
      name: 'a misspelt key',
      text: edit({}, 'autostrat: true\n'),
      messages: [
        'templates/app.yaml:12: unknown key "autostrat" (did you mean "autostart"?); known keys: name, description, role, tunnel, image, vcpus, memory, pinning, disks, router, boot, autostart, ephemeral, encrypted, readyTimeout',
      ],
    },
    {
      name: 'an unknown volume',
      text: APP.replace('  private: 4GiB\n', '  private: 4GiB\n  swap: 1GiB\n'),
      messages: ['templates/app.yaml:11: disks: unknown key "swap"; known keys: root, private, volatile'],
    },
    {
      name: 'a name with a slash',
      text: edit({ name: 'name: app/x' }),
      messages: [
        'templates/app.yaml:1: name: must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen, other than "none" or "default" or "onion", got "app/x"',
      ],
    },
    {
      name: 'an empty name',
      text: edit({ name: "name: ''" }),
      messages: [
        'templates/app.yaml:1: name: must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen, other than "none" or "default" or "onion", got ""',
      ],
    },
    {
      name: 'a reserved router name and a bad pin',
      text: edit({ router: 'router: default', image: 'image: debian@1234' }),
      messages: [
        'templates/app.yaml:4: image: must be an image name (1 to 32 lowercase letters, digits or hyphens, starting with a letter), optionally pinned as NAME@SHA256 with 64 lowercase hex digits, got "debian@1234"',
        `templates/app.yaml:11: router: must be "none", "onion" or a router VM's name (1 to 32 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen), got "default"`,
      ],
    },
    {
      name: 'a description with a terminal escape',
      text: edit({ description: 'description: "\\e[2Jgone"' }),
      messages: [
        'templates/app.yaml:2: description: must be text without control characters other than tab and newline, and without bidirectional overrides, at most 4096 characters (found U+001B at index 0), got "\\u001b[2Jgone"',
      ],
    },
    {
      name: 'yes is not a boolean in YAML 1.2',
      text: edit({}, 'autostart: yes\n'),
      messages: ['templates/app.yaml:12: autostart: must be true or false, got "yes"'],
    },
    {
      name: 'a list instead of a mapping',
      text: '- name: app\n',
      messages: [
        'templates/app.yaml: must be a mapping of template fields with the keys name, description, role, tunnel, image, vcpus, memory, pinning, disks, router, boot, autostart, ephemeral, encrypted, readyTimeout, got a list',
      ],
    },
    {
      name: 'a disposable that is not ephemeral and autostarts',
      text: edit({ role: 'role: disposable' }, 'ephemeral: false\nautostart: true\n'),
      messages: [
        'templates/app.yaml:12: ephemeral: a disposable VM is always ephemeral: remove "ephemeral: false"',
      ],
    },
    {
      name: 'an ephemeral VM that autostarts',
      text: edit({}, 'ephemeral: true\nautostart: true\n'),
      messages: [
        'templates/app.yaml:13: autostart: an ephemeral VM is deleted when it stops, so there is nothing to start at boot: set "autostart: false"',
      ],
    },
    {
      name: 'a router behind itself, with a private volume and no tunnel',
      text: edit({ name: 'name: sys-tor', role: 'role: router' }),
      messages: [
        'templates/app.yaml: tunnel: a router must say what carries its traffic out: one of tor, wireguard, openvpn',
        'templates/app.yaml:10: disks.private: a router keeps no state of its own and has no private volume: remove it',
        'templates/app.yaml:11: router: a router cannot sit behind itself: name another router, or "none" for the uplink',
      ],
    },
    {
      name: 'an app on an image that does not read its link from the kernel command line, behind the onion device',
      text: edit({ image: 'image: custom', router: 'router: onion' }),
      messages: [
        'templates/app.yaml:4: image: a VM behind the onion device configures its link from the kernel command line, and only the tiny and debian images do that: use one of them, or a router VM',
      ],
    },
    {
      name: 'an app on the Debian image booted from its disk, behind the onion device',
      text: edit({ router: 'router: onion' }),
      messages: [
        'templates/app.yaml:5: boot: a VM behind the onion device reads its link from the kernel command line, which only a kernel boot passes: set "boot: kernel"',
      ],
    },
    {
      name: 'a router behind the onion device',
      text: edit(
        { name: 'name: sys-vpn', role: 'role: router', private: null, router: 'router: onion' },
        'tunnel: wireguard\n',
      ),
      messages: [
        'templates/app.yaml:5: boot: a VM behind the onion device reads its link from the kernel command line, which only a kernel boot passes: set "boot: kernel"',
        'templates/app.yaml:10: router: a router carries other VMs\' traffic out through its tunnel and cannot sit behind the onion device, which carries only TCP and DNS: name another router, or "none" for the uplink',
      ],
    },
    {
      name: 'a template named onion',
      text: edit({ name: 'name: onion' }),
      messages: [
        'templates/app.yaml:1: name: must be 1 to 32 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen, other than "none" or "default" or "onion", got "onion"',
      ],
    },
    {
      name: 'a tunnel on an app VM',
      text: edit({}, 'tunnel: wireguard\n'),
      messages: [
        "templates/app.yaml:12: tunnel: only routers have a tunnel, and this template's role is app: remove it",
      ],
    },
    {
      name: 'a fallback on the wrong image, online, with volumes and dedicated CPUs',
      text: edit({ role: 'role: fallback' }, 'pinning: dedicated\n'),
      messages: [
        'templates/app.yaml:4: image: the fallback VM must boot the tiny image, the one known to boot when others fail',
        "templates/app.yaml:9: disks.root: the fallback VM has no volumes of its own (the failed VM's disk is attached read-only): remove it",
        "templates/app.yaml:10: disks.private: the fallback VM has no volumes of its own (the failed VM's disk is attached read-only): remove it",
        'templates/app.yaml:11: router: the fallback VM inspects a failed VM\'s disk and must stay offline: set "router: none"',
        'templates/app.yaml:12: pinning: the fallback VM must boot even when every dedicated CPU is taken: set "pinning: shared"',
      ],
    },
    {
      name: 'the tiny image booted from a disk',
      text: edit({ image: 'image: tiny' }),
      messages: [
        'templates/app.yaml:5: boot: the tiny image is a kernel and an initramfs, with no disk to boot: set "boot: kernel"',
        'templates/app.yaml:9: disks.root: the tiny image has no disk to lay a root volume on: remove it',
      ],
    },
    {
      name: 'disk boot without a root volume',
      text: edit({ root: null }),
      messages: [
        'templates/app.yaml:8: disks.root: "boot: disk" boots the root volume, so the template needs one: add disks.root',
      ],
    },
    {
      name: 'the controller made ephemeral',
      text: edit({ role: 'role: controller' }, 'ephemeral: true\n'),
      messages: [
        'templates/app.yaml:12: ephemeral: the controller is the owner\'s management VM and must survive a stop: set "ephemeral: false"',
      ],
    },
    {
      name: 'broken YAML',
      text: 'name: app\n\tvcpus: 2\n',
      code: 'TEMPLATE_SYNTAX',
      messages: ['templates/app.yaml:2: not valid YAML: Tabs are not allowed as indentation'],
    },
    {
      name: 'a repeated key',
      text: `${APP}vcpus: 4\n`,
      code: 'TEMPLATE_SYNTAX',
      messages: ['templates/app.yaml:12: not valid YAML: Map keys must be unique'],
    },
    {
      name: 'an alias bomb',
      text: `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`,
      code: 'TEMPLATE_SYNTAX',
      messages: [
        'templates/app.yaml: not usable YAML: Excessive alias count indicates a resource exhaustion attack',
      ],
    },
  ];

  for (const bad of badFiles) {
    it(`rejects ${bad.name} with a precise message`, () => {
      const error = errorOf(bad.text);
      assert.equal(error.code, bad.code ?? 'TEMPLATE_INVALID');
      assert.deepEqual(error.message.split('\n'), bad.messages);
    });
  }

  it('rejects malformed JSON and keys JSON.parse would silently repeat', () => {
    const malformed = errorOf('{"name": "app",\n "vcpus": }', 'json', 'app.json');
    assert.equal(malformed.code, 'TEMPLATE_SYNTAX');
    assert.match(malformed.message, /^app\.json(:\d+)?: not valid JSON: /);
    assert.doesNotMatch(malformed.message, /\n/);
    const repeated = errorOf('{"name": "app",\n "name": "other"}', 'json', 'app.json');
    assert.deepEqual(repeated.message.split('\n'), ['app.json:2: not valid JSON: Map keys must be unique']);
  });

  it('rejects an oversized file before parsing it', () => {
    const error = errorOf(`description: "${'x'.repeat(MAX_TEMPLATE_BYTES)}"\n`);
    assert.equal(error.code, 'TEMPLATE_TOO_LARGE');
  });
});

describe('loading files and directories', () => {
  let directory: string;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'mv-templates-'));
  });

  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('requires the name to match the file name', async () => {
    const path = join(directory, 'work.yaml');
    await writeFile(path, APP);
    await assert.rejects(loadTemplateFile(path), (error: unknown) => {
      assert.ok(error instanceof TemplateError);
      assert.equal(
        error.message,
        `${path}:1: name: must match the file name "work", got "app": templates are found by file name`,
      );
      return true;
    });
  });

  it('says which file cannot be read, and which names are not templates', async () => {
    const missing = join(directory, 'missing.yaml');
    await assert.rejects(loadTemplateFile(missing), { code: 'TEMPLATE_UNREADABLE' });
    await assert.rejects(loadTemplateFile(join(directory, 'app.toml')), {
      code: 'TEMPLATE_FORMAT_UNKNOWN',
      message: `${join(directory, 'app.toml')}: a template file name ends in .yaml, .yml or .json`,
    });
    await assert.rejects(loadTemplateDirectory(join(directory, 'nowhere')), { code: 'TEMPLATE_UNREADABLE' });
  });

  it('reports the problems of every file of a directory at once, and duplicate names', async () => {
    const set = join(directory, 'set');
    await mkdir(set);
    await writeFile(join(set, 'app.yaml'), APP);
    await writeFile(join(set, 'app.json'), JSON.stringify({ name: 'app' }));
    await writeFile(join(set, 'big.yaml'), edit({ name: 'name: big', vcpus: 'vcpus: 100' }));
    await writeFile(join(set, 'notes.txt'), 'not a template');
    await assert.rejects(loadTemplateDirectory(set), (error: unknown) => {
      assert.ok(error instanceof TemplateError);
      assert.equal(error.code, 'TEMPLATE_INVALID');
      const files = error.issues.map((issue) => issue.file.slice(set.length + 1));
      assert.deepEqual([...new Set(files)], ['app.json', 'big.yaml']);
      assert.ok(error.issues.some((issue) => issue.field === 'vcpus' && issue.line === 6));
      return true;
    });

    const duplicates = join(directory, 'duplicates');
    await mkdir(duplicates);
    await writeFile(join(duplicates, 'app.yaml'), APP);
    await writeFile(join(duplicates, 'app.yml'), APP);
    await assert.rejects(loadTemplateDirectory(duplicates), {
      code: 'TEMPLATE_DUPLICATE',
      message: `${join(duplicates, 'app.yml')}: name: template "app" is also defined by ${join(duplicates, 'app.yaml')}: keep one of the two files`,
    });
  });
});
