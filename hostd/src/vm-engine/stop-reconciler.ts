import type { LibvirtClient } from '@multiverse/libvirt-ts';
import type { Logger } from '../log.js';
import type { VmEngine } from './vm-engine.js';

/**
 * Makes every stop count, however it happens: hostd hears libvirt's "stopped" events (a guest powering off,
 * a crash, `virsh destroy` behind hostd's back) and, when it (re)connects, also looks at every VM, since a
 * VM may have stopped while hostd or libvirtd was down. Each stopped VM gets the engine's after-stop
 * cleanup: volatile volume gone, disposables deleted.
 */
export class StopReconciler {
  constructor(
    private readonly engine: VmEngine,
    private readonly logger: Logger,
  ) {}

  /** Subscribes on this connection (a new connection needs a new subscription), then reconciles. */
  async attach(client: LibvirtClient): Promise<void> {
    await client.onDomainLifecycle((event) => {
      if (event.event !== 'stopped') return;
      void this.cleanUp(event.domain.name, `stopped (${event.detail})`);
    });
    await this.reconcile(client);
  }

  async reconcile(client: LibvirtClient): Promise<void> {
    for (const vm of await this.engine.managedVms(client)) {
      let active: boolean;
      try {
        active = await client.domainIsActive(vm.domain);
      } catch {
        continue; // undefined meanwhile: nothing left to clean
      }
      if (!active) {
        await this.cleanUp(vm.domain.name, 'found stopped');
      } else {
        await this.switchToRecordedTop(vm.domain.name);
        await this.resumeLiveMerge(vm.domain.name);
      }
    }
  }

  /** A live checkpoint cut off before QEMU took its new top (see VmEngine.switchToRecordedTop) is finished now. */
  private async switchToRecordedTop(name: string): Promise<void> {
    try {
      await this.engine.switchToRecordedTop(name);
    } catch (error) {
      this.logger.warn(
        'switching a running VM to its recorded top layer failed; the next reconnect retries',
        {
          vm: name,
          error: error instanceof Error ? error.message : String(error),
        },
      );
    }
  }

  /** A checkpoint delete QEMU was merging when hostd died is finished (or its job waited for) now. */
  private async resumeLiveMerge(name: string): Promise<void> {
    try {
      await this.engine.resumeLiveMerge(name);
    } catch (error) {
      this.logger.warn('finishing an interrupted live checkpoint delete failed; the next reconnect retries', {
        vm: name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  private async cleanUp(name: string, why: string): Promise<void> {
    try {
      await this.engine.afterStop(name);
    } catch (error) {
      this.logger.warn('cleaning up after a VM stopped failed; the next reconnect or stop retries', {
        vm: name,
        why,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
