import { attributeOf, elementsOf, parseXml, textOf } from '@multiverse/vm-templates';
import type { ParsedElement } from '@multiverse/vm-templates';
import { parseCpuSet } from '../cpu-plan/index.js';
import type { VmPinning } from '../cpu-plan/index.js';

/**
 * Facts hostd keeps in the domain definition itself rather than in a database of its own: the pinning a VM
 * was given and the MAC addresses of its interfaces. hostd redefines a VM at every start and carries them over.
 */
export interface DomainFacts {
  readonly pinning: VmPinning | undefined;
  /** MAC address by libvirt network name. */
  readonly macByNetwork: ReadonlyMap<string, string>;
  /** Files attached read-only: on a fallback VM, the disks of the VM it inspects. */
  readonly readOnlyDisks: readonly string[];
  /** The domain's description (a fallback VM's says why it was booted). */
  readonly description: string;
}

function child(parent: ParsedElement, name: string): ParsedElement | undefined {
  return elementsOf(parent).find((element) => element.name === name);
}

function readPinning(domain: ParsedElement, vcpuCount: number): VmPinning | undefined {
  const cputune = child(domain, 'cputune');
  if (cputune === undefined) return undefined;
  const vcpus: (number[] | undefined)[] = new Array<number[] | undefined>(vcpuCount).fill(undefined);
  for (const pin of elementsOf(cputune).filter((element) => element.name === 'vcpupin')) {
    const vcpu = Number(attributeOf(pin, 'vcpu'));
    const cpuset = attributeOf(pin, 'cpuset');
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= vcpuCount || cpuset === undefined) return undefined;
    vcpus[vcpu] = parseCpuSet(cpuset);
  }
  const emulator = child(cputune, 'emulatorpin');
  const emulatorSet = emulator === undefined ? undefined : attributeOf(emulator, 'cpuset');
  const complete = vcpus.filter((cpus): cpus is number[] => cpus !== undefined);
  if (emulatorSet === undefined || complete.length !== vcpuCount) return undefined;
  return { vcpus: complete, emulator: parseCpuSet(emulatorSet) };
}

function readMacs(domain: ParsedElement): Map<string, string> {
  const macs = new Map<string, string>();
  const devices = child(domain, 'devices');
  if (devices === undefined) return macs;
  for (const networkInterface of elementsOf(devices).filter((element) => element.name === 'interface')) {
    const source = child(networkInterface, 'source');
    const mac = child(networkInterface, 'mac');
    const network = source === undefined ? undefined : attributeOf(source, 'network');
    const address = mac === undefined ? undefined : attributeOf(mac, 'address');
    if (network !== undefined && address !== undefined) macs.set(network, address.toLowerCase());
  }
  return macs;
}

function readReadOnlyDisks(domain: ParsedElement): string[] {
  const devices = child(domain, 'devices');
  if (devices === undefined) return [];
  return elementsOf(devices)
    .filter((element) => element.name === 'disk' && child(element, 'readonly') !== undefined)
    .map((disk) => {
      const source = child(disk, 'source');
      return source === undefined ? undefined : attributeOf(source, 'file');
    })
    .filter((path): path is string => path !== undefined);
}

function readDescription(domain: ParsedElement): string {
  const description = child(domain, 'description');
  return description === undefined ? '' : textOf(description);
}

/** Reads the facts from a domain's XML; a fact that is absent or not in hostd's own form is left out. */
export function readDomainFacts(xml: string, vcpuCount: number): DomainFacts {
  const domain = parseXml(xml);
  return {
    pinning: readPinning(domain, vcpuCount),
    macByNetwork: readMacs(domain),
    readOnlyDisks: readReadOnlyDisks(domain),
    description: readDescription(domain),
  };
}

/** Each file-backed disk of a domain: its target device (`vdb`) and source file. */
export function readDiskSources(xml: string): { target: string; file: string }[] {
  const devices = child(parseXml(xml), 'devices');
  if (devices === undefined) return [];
  const disks: { target: string; file: string }[] = [];
  for (const disk of elementsOf(devices).filter((element) => element.name === 'disk')) {
    const source = child(disk, 'source');
    const target = child(disk, 'target');
    const file = source === undefined ? undefined : attributeOf(source, 'file');
    const dev = target === undefined ? undefined : attributeOf(target, 'dev');
    if (file !== undefined && dev !== undefined) disks.push({ target: dev, file });
  }
  return disks;
}
