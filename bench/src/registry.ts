// Every benchmark `npm run bench -- NAME` can run, by name.
import { runLibvirtCalls } from './libvirt-calls.js';

export const benchmarks: Record<string, () => Promise<void>> = { 'libvirt-calls': runLibvirtCalls };
benchmarks['onion'] = async () => (await import('./onion-bench.js')).runOnion();
benchmarks['ssh-jail'] = async () => (await import('./ssh-jail.js')).runSshJail();
