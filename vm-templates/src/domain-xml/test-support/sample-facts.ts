import type { VmTemplate } from '../../templates/template-schema.js';
import { ONION_ROUTER } from '../../templates/vm-names.js';
import type { VmInstanceFacts } from '../vm-model.js';

export const SAMPLE_SHA256 = '0db3058276aaa118e4dbad53cf9bed93838ae9d6d752be53fe3c799fa42e00af';

/** Instance facts that fit `template`: a path for each of its volumes, the interfaces its role needs. */
export function sampleFacts(template: VmTemplate, overrides: Partial<VmInstanceFacts> = {}): VmInstanceFacts {
  const volumes = (['root', 'private', 'volatile'] as const).filter(
    (volume) => template.diskBytes[volume] !== null,
  );
  const isRouter = template.role === 'router';
  const behindOnion = template.router === ONION_ROUTER;
  return {
    name: isRouter ? 'sys-tor' : `${template.name}-1`,
    uuid: '6f1c4a39-2f7e-4c1b-9a53-0c3d0b1f7e21',
    image: `${template.image.name}@${template.image.sha256 ?? SAMPLE_SHA256}`,
    ...(template.boot === 'kernel'
      ? {
          kernel: {
            kernelPath: `/var/lib/multiverse/images/tiny@${SAMPLE_SHA256}/vmlinuz`,
            initrdPath: `/var/lib/multiverse/images/tiny@${SAMPLE_SHA256}/initramfs.cpio.gz`,
            arguments: 'console=ttyS0 quiet',
          },
        }
      : {}),
    disks: {
      ...Object.fromEntries(
        volumes.map((volume) => [volume, `/var/lib/multiverse/vms/${template.name}/${volume}.qcow2`]),
      ),
      ...(template.role === 'fallback' ? { inspected: ['/var/lib/multiverse/vms/app-1/private.qcow2'] } : {}),
    },
    interfaces: [
      ...(isRouter || (template.router !== null && !behindOnion)
        ? [
            {
              purpose: 'upstream' as const,
              network: isRouter ? 'default' : 'mv-sys-tor',
              mac: '52:54:00:6d:76:01',
            },
          ]
        : []),
      ...(isRouter ? [{ purpose: 'inside' as const, network: 'mv-sys-tor', mac: '52:54:00:6d:76:02' }] : []),
    ],
    ...(behindOnion
      ? {
          onionLink: {
            tap: 'mvo0123456789a',
            mac: '52:54:00:6d:76:03',
            address: '10.154.0.2/30',
            gateway: '10.154.0.1',
          },
        }
      : {}),
    ...overrides,
  };
}
