import { join } from 'node:path';

/**
 * Where one VM's disk files live:
 *
 *   <vmsDir>/<vm>/disks.json          the manifest (truth of the chain)
 *   <vmsDir>/<vm>/journal.json        intent of the operation under way, if any
 *   <vmsDir>/<vm>/private/<id>.qcow2  private volume layers (backing names are relative: the dir can move)
 *   <vmsDir>/<vm>/run/root.qcow2      root overlay on the base image, made at start, deleted at stop
 *   <vmsDir>/<vm>/run/volatile.qcow2  volatile volume, made at start, deleted at stop
 *   <vmsDir>/.locks/<vm>.lock         flock target (outside the VM dir so that create can lock first)
 */
export class VmLayout {
  readonly dir: string;
  readonly manifest: string;
  readonly journal: string;
  readonly privateDir: string;
  readonly runDir: string;
  readonly root: string;
  readonly volatile: string;
  readonly lock: string;

  /** `dir` is `<vmsDir>/<vm>`, except while a VM is being created in a staging directory. */
  constructor(
    readonly vm: string,
    dir: string,
    lock: string,
  ) {
    this.dir = dir;
    this.manifest = join(this.dir, 'disks.json');
    this.journal = join(this.dir, 'journal.json');
    this.privateDir = join(this.dir, 'private');
    this.runDir = join(this.dir, 'run');
    this.root = join(this.runDir, 'root.qcow2');
    this.volatile = join(this.runDir, 'volatile.qcow2');
    this.lock = lock;
  }

  static of(vmsDir: string, vm: string): VmLayout {
    return new VmLayout(vm, join(vmsDir, vm), join(vmsDir, '.locks', `${vm}.lock`));
  }

  /** The name a layer's backing-file header uses for it: relative, so it resolves beside the child layer. */
  static layerFileName(layerId: string): string {
    return `${layerId}.qcow2`;
  }

  layer(layerId: string): string {
    return join(this.privateDir, VmLayout.layerFileName(layerId));
  }

  /** Files are built under this name and renamed into place once complete. */
  static staging(path: string): string {
    return `${path}.staging`;
  }

  /**
   * Prefixes of whole-VM staging directories in vmsDir: create builds one and renames it into place, delete
   * renames the VM dir to one first. `@` cannot occur in a VM name, so one VM's prefix never matches another's.
   */
  static creatingPrefix(vm: string): string {
    return `.creating@${vm}@`;
  }

  static deletingPrefix(vm: string): string {
    return `.deleting@${vm}@`;
  }
}
