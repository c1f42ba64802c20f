import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { LibvirtClient } from '@multiverse/libvirt-ts';
import { element, renderXml } from '@multiverse/vm-templates';

/** Which of QEMU's accelerators hostd gives domains: `kvm` (`<domain type='kvm'>`) or `tcg` (`type='qemu'`). */
export type Accelerator = 'kvm' | 'tcg';

export interface AcceleratorDecision {
  accelerator: Accelerator;
  /** Why: what the probe saw, or that the setting forced it. */
  reason: string;
}

export interface AcceleratorProbeOptions {
  /** Where the probe guest's serial log is written (virtlogd writes it). */
  workDir: string;
  /** A bootable x86-64 kernel; defaults to the newest /boot/vmlinuz-*. */
  kernelPath?: string;
  /** How long the guest has to print its first kernel line. */
  timeoutMs?: number;
}

const KERNEL_BANNER = 'Linux version';

/** Finds a kernel the probe can boot, preferring Debian's cloud kernel (small and fast to start). */
export async function findHostKernel(bootDir = '/boot'): Promise<string | undefined> {
  const kernels = (await readdir(bootDir).catch(() => [] as string[]))
    .filter((name) => name.startsWith('vmlinuz-'))
    .sort()
    .reverse();
  const chosen = kernels.find((name) => name.includes('cloud')) ?? kernels[0];
  return chosen === undefined ? undefined : join(bootDir, chosen);
}

function probeDomainXml(type: 'kvm' | 'qemu', name: string, kernelPath: string, serialLog: string): string {
  // A guest with no disk that panics at once (no root device) and is destroyed instead of rebooted.
  return renderXml(
    element(
      'domain',
      { type },
      element('name', {}, name),
      element('memory', { unit: 'MiB' }, '128'),
      element('vcpu', {}, '1'),
      element(
        'os',
        {},
        element('type', { arch: 'x86_64', machine: 'pc' }, 'hvm'),
        element('kernel', {}, kernelPath),
        element('cmdline', {}, 'console=ttyS0 panic=-1'),
      ),
      element('on_poweroff', {}, 'destroy'),
      element('on_reboot', {}, 'destroy'),
      element('on_crash', {}, 'destroy'),
      element(
        'devices',
        {},
        element('serial', { type: 'pty' }, element('log', { file: serialLog, append: 'off' })),
      ),
    ),
  );
}

export type GuestBootResult =
  { booted: true; elapsedMs: number } | { booted: false; why: 'start-failed' | 'silent'; detail: string };

/**
 * Starts a throw-away guest with the given domain type and reports whether its kernel printed its banner on
 * the serial console within `timeoutMs`. Always removes the guest and its log.
 */
export async function probeGuestBoots(
  client: LibvirtClient,
  type: 'kvm' | 'qemu',
  kernelPath: string,
  options: { workDir: string; timeoutMs: number },
): Promise<GuestBootResult> {
  await mkdir(options.workDir, { recursive: true, mode: 0o700 });
  const name = `multiverse-accel-probe-${randomUUID().slice(0, 8)}`;
  const serialLog = join(options.workDir, `${name}.log`);
  const started = Date.now();
  let domain;
  try {
    domain = await client.domainCreateXml(probeDomainXml(type, name, kernelPath, serialLog));
  } catch (error) {
    return { booted: false, why: 'start-failed', detail: (error as Error).message };
  }
  try {
    const deadline = started + options.timeoutMs;
    while (Date.now() < deadline) {
      const output = await readFile(serialLog, 'utf8').catch(() => '');
      if (output.includes(KERNEL_BANNER)) return { booted: true, elapsedMs: Date.now() - started };
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { booted: false, why: 'silent', detail: `no kernel output in ${options.timeoutMs} ms` };
  } finally {
    // The guest may already be gone (it destroys itself on panic); only a still-running one needs killing.
    await client.domainDestroy(domain).catch(() => undefined);
    await rm(serialLog, { force: true });
  }
}

/**
 * Decides between KVM and TCG by really running a guest under KVM: QEMU can start with /dev/kvm present and
 * still never run a guest instruction (nested KVM on some clouds), so "the domain started" proves nothing.
 * KVM counts as working only when the guest kernel printed its banner on the serial console in time.
 */
export async function probeAccelerator(
  client: LibvirtClient,
  options: AcceleratorProbeOptions,
): Promise<AcceleratorDecision> {
  const timeoutMs = options.timeoutMs ?? 8000;
  const kernelPath = options.kernelPath ?? (await findHostKernel());
  if (kernelPath === undefined) {
    return {
      accelerator: 'tcg',
      reason:
        'no kernel to probe KVM with (install linux-image-cloud-amd64); using TCG until a probe succeeds',
    };
  }
  const result = await probeGuestBoots(client, 'kvm', kernelPath, { workDir: options.workDir, timeoutMs });
  if (result.booted) {
    return {
      accelerator: 'kvm',
      reason: `a KVM guest printed its kernel banner after ${result.elapsedMs} ms`,
    };
  }
  return result.why === 'start-failed'
    ? { accelerator: 'tcg', reason: `a KVM guest could not be started: ${result.detail}` }
    : {
        accelerator: 'tcg',
        reason: `a KVM guest started but its vCPU ran nothing (${result.detail}); nested KVM does not work here`,
      };
}
