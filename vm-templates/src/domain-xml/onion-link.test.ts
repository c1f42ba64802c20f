import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadTemplateDirectory, shippedTemplatesDirectory } from '../templates/template-loader.js';
import type { VmTemplate } from '../templates/template-schema.js';
import { generateDomainXml } from './domain-xml.js';
import { DomainXmlError } from './domain-xml-error.js';
import { readVmMetadata } from './vm-metadata-reader.js';
import { buildVmModel } from './vm-model.js';
import { sampleFacts } from './test-support/sample-facts.js';
import { attributeOf, elementsOf, parseXml, textOf } from './xml-reader.js';
import type { ParsedElement } from './xml-reader.js';

let templates: Map<string, VmTemplate>;

before(async () => {
  templates = new Map(
    (await loadTemplateDirectory(shippedTemplatesDirectory())).map((entry) => [entry.name, entry]),
  );
});

function shipped(name: string): VmTemplate {
  const found = templates.get(name);
  assert.ok(found, `no shipped template ${name}`);
  return found;
}

function only(element: ParsedElement, name: string): ParsedElement[] {
  return elementsOf(element).filter((candidate) => candidate.name === name);
}

function problemsOf(template: VmTemplate, facts: unknown): readonly string[] {
  try {
    buildVmModel(template, facts);
  } catch (error) {
    assert.ok(error instanceof DomainXmlError, String(error));
    return error.problems;
  }
  assert.fail('expected the facts to be rejected');
}

const LINK = {
  tap: 'mvo0123456789a',
  mac: '52:54:00:6d:76:03',
  address: '10.154.0.2/30',
  gateway: '10.154.0.1',
};

describe('the onion link of a VM behind the onion device', () => {
  it('is its one NIC, on the TAP device as it is, with its settings on the kernel command line', () => {
    const template = shipped('app-onion');
    const model = buildVmModel(template, sampleFacts(template));
    assert.deepEqual(model.onionLink, LINK);
    assert.deepEqual(model.interfaces, []);
    const xml = generateDomainXml(model, { domainType: 'qemu' });
    const domain = parseXml(xml);
    const [devices] = only(domain, 'devices');
    assert.ok(devices);
    const interfaces = only(devices, 'interface');
    assert.equal(interfaces.length, 1);
    const [nic] = interfaces;
    assert.ok(nic);
    assert.equal(attributeOf(nic, 'type'), 'ethernet');
    const [target] = only(nic, 'target');
    assert.ok(target);
    assert.deepEqual([attributeOf(target, 'dev'), attributeOf(target, 'managed')], [LINK.tap, 'no']);
    assert.equal(only(nic, 'source').length, 0, 'no bridge or network to join');
    const [os] = only(domain, 'os');
    assert.ok(os);
    const [cmdline] = only(os, 'cmdline');
    assert.ok(cmdline);
    assert.equal(
      textOf(cmdline),
      'console=ttyS0 quiet multiverse.hostname=app-onion-1 multiverse.ipv4=10.154.0.2/30,10.154.0.1',
    );
    assert.equal(readVmMetadata(xml)?.router, 'onion');
  });

  it('is absent from the definition made at create: no NIC, no address', () => {
    const template = shipped('app-onion');
    const xml = generateDomainXml(
      buildVmModel(template, { ...sampleFacts(template), onionLink: undefined }),
      { domainType: 'qemu' },
    );
    assert.doesNotMatch(xml, /<interface|multiverse\.ipv4/);
  });

  const refusals: ReadonlyArray<readonly [string, string, Record<string, unknown>, RegExp]> = [
    [
      'a TAP name with a shell character',
      'app-onion',
      { tap: 'mvo;reboot' },
      /onionLink\.tap: must be a Linux interface name/,
    ],
    ['a TAP name over 15 bytes', 'app-onion', { tap: 'mvo0123456789abc' }, /onionLink\.tap/],
    [
      'the network address',
      'app-onion',
      { address: '10.154.0.0/30' },
      /onionLink\.address: must be an IPv4 host address/,
    ],
    ['the broadcast address', 'app-onion', { address: '10.154.0.3/30' }, /onionLink\.address/],
    ['a /31', 'app-onion', { address: '10.154.0.2/31' }, /onionLink\.address/],
    ['a space and more words', 'app-onion', { address: '10.154.0.2/30 init=/bin/sh' }, /onionLink\.address/],
    [
      'a gateway that is no address',
      'app-onion',
      { gateway: '10.154.0.1 rw' },
      /onionLink\.gateway: must be an IPv4 address/,
    ],
    [
      'the guest as its own gateway',
      'app-onion',
      { gateway: '10.154.0.2' },
      /the gateway must be the host side/,
    ],
    [
      'a gateway on another network',
      'app-onion',
      { gateway: '10.155.0.1' },
      /the gateway 10\.155\.0\.1 is not a host on 10\.154\.0\.2\/30/,
    ],
    [
      'a link for a VM behind a router VM',
      'disposable',
      {},
      /is not behind the onion device \("router: onion"\): leave it out/,
    ],
  ];
  for (const [what, templateName, change, expected] of refusals) {
    it(`refuses ${what}`, () => {
      const template = shipped(templateName);
      const problems = problemsOf(template, { ...sampleFacts(template), onionLink: { ...LINK, ...change } });
      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `${expected} in ${JSON.stringify(problems)}`,
      );
    });
  }

  it('refuses a network interface for a VM behind the onion device', () => {
    const template = shipped('app-onion');
    const problems = problemsOf(template, {
      ...sampleFacts(template),
      interfaces: [{ purpose: 'upstream', network: 'mv-in-sys-tor', mac: '52:54:00:6d:76:09' }],
    });
    assert.deepEqual(problems, [
      'VM "app-onion-1": interfaces: template app-onion sits behind the onion device ("router: onion"): its NIC is the onionLink, give no network interface',
    ]);
  });
});
