import type { Logger } from '../log.js';
import { CallHomeStore } from './callhome-store.js';
import { ExistingTor } from './existing-tor.js';
import { HostCallHome } from './host-callhome.js';
import { HostOnionDevices } from './host-onion-devices.js';
import { HostOnionVmLinks } from './host-onion-vm-links.js';
import { NoTor } from './host-tor.js';
import type { HostTor } from './host-tor.js';
import { OwnTor } from './own-tor.js';
import { describeTorMode } from './tor-mode.js';
import type { TorMode } from './tor-mode.js';

export interface HostOnionSettings {
  readonly stateDir: string;
  readonly runDir: string;
  readonly tor: TorMode;
  readonly torrcExtraPath: string | null;
  /** Where the SSH jail listens (what call-home publishes); null: the jail is off. */
  readonly jailListen: { readonly host: string; readonly port: number } | null;
}

/** hostd's side of Tor: its tor, call-home, and the onion devices — what the callhome/onion verbs use. */
export class HostOnion {
  readonly tor: HostTor;
  readonly callHome: HostCallHome;
  readonly devices: HostOnionDevices;
  /** The links of VMs behind the onion device ("router: onion"), made at their start. */
  readonly vmLinks: HostOnionVmLinks;

  constructor(
    settings: HostOnionSettings,
    private readonly logger: Logger,
  ) {
    const mode = settings.tor;
    // The devices and hostd's own tor refer to each other: its torrc lists the devices' listeners.
    const devices: { current?: HostOnionDevices; vmLinks?: HostOnionVmLinks } = {};
    this.tor =
      mode.kind === 'off'
        ? new NoTor()
        : mode.kind === 'control'
          ? new ExistingTor(mode.endpoint)
          : new OwnTor({
              stateDir: settings.stateDir,
              runDir: settings.runDir,
              torrcExtraPath: settings.torrcExtraPath,
              logger: logger.child('tor'),
              deviceListeners: async () => [
                ...((await devices.current?.deviceListeners()) ?? []),
                ...((await devices.vmLinks?.deviceListeners()) ?? []),
              ],
            });
    this.devices = new HostOnionDevices({
      stateDir: settings.stateDir,
      tor: this.tor,
      logger: logger.child('onion0'),
    });
    devices.current = this.devices;
    this.vmLinks = new HostOnionVmLinks({
      stateDir: settings.stateDir,
      tor: this.tor,
      logger: logger.child('vm-links'),
    });
    devices.vmLinks = this.vmLinks;
    this.callHome = new HostCallHome({
      store: new CallHomeStore(settings.stateDir),
      tor: this.tor,
      jail: settings.jailListen,
      logger: logger.child('callhome'),
    });
    logger.info('tor', { mode: describeTorMode(mode) });
  }

  /** Picks up what an earlier hostd left: devices still up, call-home enabled (published again). */
  async start(): Promise<void> {
    try {
      await this.devices.open();
    } catch (error) {
      this.logger.error('the onion devices’ record cannot be read', { error: (error as Error).message });
    }
    try {
      await this.vmLinks.open();
    } catch (error) {
      this.logger.error('the onion VM links’ record cannot be read', { error: (error as Error).message });
    }
    await this.callHome.open();
  }

  /**
   * Withdraws the service and stops hostd's own tor, side by side: with its own tor gone the service is gone
   * anyway, and call-home must not wait for a tor that is stopping.
   */
  async stop(): Promise<void> {
    await Promise.all([this.callHome.close(), this.tor.close()]);
  }
}
