import type { Role } from './actor.js';
import type { VerbName } from './verb-table.js';

/**
 * The one place that says who may do what. Every verb must appear (the type makes a missing one a build
 * error); a role not listed for a verb is refused before the verb sees its input.
 */
export const POLICY: Readonly<Record<VerbName, readonly Role[]>> = {
  'host.info': ['owner', 'operator', 'viewer'],
  'host.cpus': ['owner', 'operator', 'viewer'],
  'vm.list': ['owner', 'operator', 'viewer'],
  // Operators run VMs; only the owner decides which VMs exist.
  'vm.create': ['owner'],
  'vm.start': ['owner', 'operator'],
  'vm.stop': ['owner', 'operator'],
  'vm.kill': ['owner', 'operator'],
  // A console is a root shell in most guests: operators run VMs, so they may use them.
  'vm.console': ['owner', 'operator'],
  // A disposable leaves nothing behind, so running one is an operator's job too.
  'vm.run': ['owner', 'operator'],
  'vm.info': ['owner', 'operator', 'viewer'],
  'vm.delete': ['owner'],
  'vm.checkpoint': ['owner', 'operator'],
  'vm.checkpoints': ['owner', 'operator', 'viewer'],
  'vm.revert': ['owner', 'operator'],
  'vm.checkpoint-delete': ['owner', 'operator'],
  'vm.checkpoint-pin': ['owner', 'operator'],
  // Images are what every VM trusts: only the owner builds them; anyone may see and check them.
  'image.build': ['owner'],
  'image.list': ['owner', 'operator', 'viewer'],
  'image.verify': ['owner', 'operator', 'viewer'],
  'task.list': ['owner', 'operator', 'viewer'],
  'task.show': ['owner', 'operator', 'viewer'],
  'task.wait': ['owner', 'operator', 'viewer'],
  'task.cancel': ['owner', 'operator'],
  // The audit log tells who did what: only the owner reads it.
  'audit.list': ['owner'],
  'audit.verify': ['owner'],
  // Anyone may see whether the vault is sealed and how far an unseal got (counts and ids, no names or values).
  'vault.status': ['owner', 'operator', 'viewer'],
  // A share is its own credential: nothing unseals without the threshold of real ones, and custodians may reach
  // the host as operators (SSH jail). Viewers only look. Sealing stays with the owner: a needless seal costs
  // the custodians a meeting, and auto-seal covers a forgotten unseal.
  'vault.unseal': ['owner', 'operator'],
  'vault.seal': ['owner'],
  'vault.init': ['owner'],
  'vault.rekey-prepare': ['owner'],
  'vault.rekey-commit': ['owner'],
  'vault.rekey-discard': ['owner'],
  'vault.rotate': ['owner'],
  // Overrides the rollback check: the owner's decision alone, like rotate.
  'vault.accept-rollback': ['owner'],
  'vault.list': ['owner'],
  'vault.get': ['owner'],
  'vault.put': ['owner'],
  'vault.delete': ['owner'],
  // Call-home decides who can reach the jail from anywhere, and its output is a device's private key: the
  // owner's alone, also the status (the address and the devices' names).
  'callhome.enable': ['owner'],
  'callhome.disable': ['owner'],
  'callhome.status': ['owner'],
  'callhome.add-client': ['owner'],
  'callhome.remove-client': ['owner'],
  // An onion device changes the host's network: the owner's. Its status holds no secret (like host info).
  'onion.up': ['owner'],
  'onion.down': ['owner'],
  'onion.status': ['owner', 'operator', 'viewer'],
  // Who may reach the host over SSH, and as what: the owner's decision alone.
  'user.add': ['owner'],
  'user.otp-enroll': ['owner'],
  'user.list': ['owner'],
  'user.lock': ['owner'],
  'user.unlock': ['owner'],
  'user.delete': ['owner'],
};

export function isAllowed(role: Role, verb: VerbName): boolean {
  return POLICY[verb].includes(role);
}

export function verbsAllowed(role: Role): VerbName[] {
  return (Object.keys(POLICY) as VerbName[]).filter((verb) => isAllowed(role, verb));
}
