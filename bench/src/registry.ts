// Every benchmark `npm run bench -- NAME` can run, by name.
import { runLibvirtCalls } from './libvirt-calls.js';

export const benchmarks: Record<string, () => Promise<void>> = { 'libvirt-calls': runLibvirtCalls };
benchmarks['onion'] = async () => (await import('./onion-bench.js')).runOnion();
benchmarks['ssh-jail'] = async () => (await import('./ssh-jail.js')).runSshJail();
benchmarks['vm-clone'] = async () => (await import('./vm-clone.js')).runVmClone();
benchmarks['checkpoint'] = async () => (await import('./checkpoint-bench.js')).runCheckpoint();
benchmarks['guest-ready'] = async () => (await import('./guest-ready.js')).runGuestReady();
benchmarks['disposable'] = async () => (await import('./disposable-bench.js')).runDisposable();
