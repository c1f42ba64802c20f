import { HOSTNAME_KERNEL_PARAMETER, IPV4_KERNEL_PARAMETER } from '../images/guest-shell-snippets.js';
import { formatCpuSet } from './cpu-set.js';
import { vmMetadataElement } from './vm-metadata.js';
import type { VmModel } from './vm-model.js';
import { element, renderXml } from './xml-writer.js';
import type { XmlElement } from './xml-writer.js';

/** `kvm` in production; `qemu` (TCG) where KVM cannot run vCPUs, as on the build machine. */
export type DomainType = 'kvm' | 'qemu';

export interface DomainXmlOptions {
  readonly domainType: DomainType;
}

/**
 * The libvirt domain XML of a validated VM model. Every value goes through the XML writer, which
 * escapes it; nothing here concatenates a value into markup.
 */
export function generateDomainXml(model: VmModel, options: DomainXmlOptions): string {
  return renderXml(domainElement(model, options));
}

export function domainElement(model: VmModel, options: DomainXmlOptions): XmlElement {
  const memoryKiB = model.memoryBytes / 1024;
  return element(
    'domain',
    { type: options.domainType },
    element('name', {}, model.name),
    element('uuid', {}, model.uuid),
    model.description !== '' && element('description', {}, model.description),
    element('metadata', {}, vmMetadataElement(model.metadata)),
    element('memory', { unit: 'KiB' }, String(memoryKiB)),
    element('currentMemory', { unit: 'KiB' }, String(memoryKiB)),
    element('vcpu', { placement: 'static' }, String(model.template.vcpus)),
    cpuTuneElement(model),
    osElement(model),
    element('features', {}, element('acpi')),
    // UTC, not the host's zone: a VM behind Tor must not give away where the host is.
    element('clock', { offset: 'utc' }),
    // Every way a guest ends stops the domain. A reboot included: the root volume is fresh only
    // when hostd starts the VM again, and a crash is hostd's cue to boot the fallback VM.
    element('on_poweroff', {}, 'destroy'),
    element('on_reboot', {}, 'destroy'),
    element('on_crash', {}, 'destroy'),
    devicesElement(model),
  );
}

function cpuTuneElement(model: VmModel): XmlElement {
  const pinning = model.cpuPinning;
  return element(
    'cputune',
    {},
    element('shares', {}, String(model.cpuShares)),
    ...(pinning === null
      ? []
      : [
          ...pinning.vcpus.map((cpus, vcpu) => element('vcpupin', { vcpu, cpuset: formatCpuSet(cpus) })),
          element('emulatorpin', { cpuset: formatCpuSet(pinning.emulator) }),
        ]),
  );
}

/** A LUKS-encrypted qcow2's key: the libvirt secret hostd defines while the vault is unsealed. */
function luksEncryption(secretUuid: string): XmlElement {
  return element(
    'encryption',
    { format: 'luks' },
    element('secret', { type: 'passphrase', uuid: secretUuid }),
  );
}

/**
 * A backing chain written out, newest layer first, ending in an empty `<backingStore/>`: libvirt then opens
 * exactly these layers, each with its key, instead of probing the headers (which name no keys).
 */
function backingStoreElement(chain: VmModel['disks'][number]['backingChain']): XmlElement {
  const [layer, ...below] = chain ?? [];
  if (layer === undefined) return element('backingStore');
  return element(
    'backingStore',
    { type: 'file' },
    element('format', { type: 'qcow2' }),
    element('source', { file: layer.path }, layer.secretUuid !== null && luksEncryption(layer.secretUuid)),
    backingStoreElement(below),
  );
}

function osElement(model: VmModel): XmlElement {
  const type = element('type', { arch: 'x86_64', machine: 'q35' }, 'hvm');
  if (model.kernel === null) return element('os', {}, type, element('boot', { dev: 'hd' }));
  // The VM's name is a valid hostname by construction; the guest reports it back in its READY line.
  const hostname = `${HOSTNAME_KERNEL_PARAMETER}=${model.name}`;
  // A VM behind the onion device has no DHCP server to ask: its init reads the link's settings from here.
  // Both values were checked by the model (an address with its prefix, and a dotted-quad gateway).
  const network =
    model.onionLink === null
      ? []
      : [`${IPV4_KERNEL_PARAMETER}=${model.onionLink.address},${model.onionLink.gateway}`];
  const commandLine = [
    ...(model.kernel.arguments === '' ? [] : [model.kernel.arguments]),
    hostname,
    ...network,
  ].join(' ');
  return element(
    'os',
    {},
    type,
    element('kernel', {}, model.kernel.kernelPath),
    element('initrd', {}, model.kernel.initrdPath),
    element('cmdline', {}, commandLine),
  );
}

function devicesElement(model: VmModel): XmlElement {
  return element(
    'devices',
    {},
    ...model.disks.map((disk) =>
      element(
        'disk',
        { type: 'file', device: 'disk' },
        element('driver', { name: 'qemu', type: 'qcow2', discard: 'unmap' }),
        element('source', { file: disk.path }, disk.secretUuid !== null && luksEncryption(disk.secretUuid)),
        disk.backingChain !== null && backingStoreElement(disk.backingChain),
        element('target', { dev: disk.device, bus: 'virtio' }),
        disk.readOnly && element('readonly'),
      ),
    ),
    ...model.interfaces.map((networkInterface) =>
      element(
        'interface',
        { type: 'network' },
        element('mac', { address: networkInterface.mac }),
        element('source', { network: networkInterface.network }),
        element('model', { type: 'virtio' }),
      ),
    ),
    // The onion link: a TAP device hostd made with its torifying rules before the start. managed='no' has
    // libvirt use it as it is, and refuse to start the VM when it does not exist, rather than make one
    // without those rules.
    model.onionLink !== null &&
      element(
        'interface',
        { type: 'ethernet' },
        element('mac', { address: model.onionLink.mac }),
        element('target', { dev: model.onionLink.tap, managed: 'no' }),
        element('model', { type: 'virtio' }),
      ),
    element('serial', { type: 'pty' }, element('target', { port: 0 })),
    element('console', { type: 'pty' }, element('target', { type: 'serial', port: 0 })),
    // Less device surface for a guest to attack: no USB controller, no balloon (which also lets a
    // guest learn about host memory pressure). Entropy comes from the host, fresh for every clone.
    element('controller', { type: 'usb', model: 'none' }),
    element('memballoon', { model: 'none' }),
    element('rng', { model: 'virtio' }, element('backend', { model: 'random' }, '/dev/urandom')),
  );
}
