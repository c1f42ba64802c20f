import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLoopbackPort } from '@multiverse/jail-shell';
import { describeSocksReply, dialOnionService, readFirstLine } from '@multiverse/onion';
import type { SocksProxyEndpoint, TestTorNetwork, TorControlClient } from '@multiverse/onion';
import { BenchHostd } from './bench-hostd.js';
import type { Teardown } from './teardown.js';

export interface CallHomeTiming {
  /** From spawning hostd until it answered mvctl. */
  readonly answeredSeconds: number;
  /** From spawning hostd until its tor reported the descriptor uploaded. */
  readonly publishedSeconds: number;
  /** From spawning hostd until an authorized client read the SSH jail's banner through the onion address. */
  readonly reachableSeconds: number;
}

interface CallHomeStatus {
  readonly published: boolean;
  readonly onionAddress: string | null;
  readonly lastUploadAt: string | null;
}

/**
 * hostd with call-home enabled, started again and again: each round times the spawn of the hostd process until
 * a client holding the device's auth line reads the SSH jail's banner through the onion address. hostd's own tor
 * joins the private network through MULTIVERSE_TORRC_EXTRA and starts from its data directory (cached
 * consensus), as after a reboot. Before each round the client tor forgets what it knew of onion services
 * (NEWNYM), so it fetches the new descriptor like a device that has not connected since. The client dials once
 * hostd reports the descriptor uploaded: one that dials earlier can fetch the previous run's descriptor from
 * the HSDirs (its introduction points died with the old tor), and tor then took up to three minutes to try
 * again (seen in one round of three when the bench dialled from the start).
 */
export async function timeHostdCallHome(context: {
  readonly network: TestTorNetwork;
  readonly clientControl: TorControlClient;
  readonly rounds: number;
  readonly teardown: Teardown;
}): Promise<CallHomeTiming[]> {
  const { network, clientControl, teardown } = context;
  const root = await mkdtemp(join(tmpdir(), 'mvbench-callhome-'));
  teardown.defer('remove the call-home hostd directory', () => rm(root, { recursive: true, force: true }));
  // hostd's tor runs as debian-tor, which must reach its data directory under root.
  await chmod(root, 0o711);
  const extra = join(root, 'torrc-extra');
  await writeFile(extra, `${network.clientTorrcLines.join('\n')}\n`);
  const hostd = new BenchHostd(root, {
    MULTIVERSE_LIBVIRT_URI: 'test:///default',
    MULTIVERSE_DISPOSABLE_POOL: 'none',
    MULTIVERSE_JAIL_LISTEN: `127.0.0.1:${await freeLoopbackPort()}`,
    MULTIVERSE_TOR: 'own',
    MULTIVERSE_TORRC_EXTRA: extra,
  });
  teardown.defer('stop the call-home hostd', () => hostd.stop());
  const proxy = { host: network.client.socksHost, port: network.client.socksPort };

  // Once, untimed: authorize the bench's client, enable call-home, see it through.
  await hostd.start();
  const grant = (
    await hostd.mvctlJson<{ authLine: string; onionAddress: string }>(['callhome', 'add-client', 'bench'])
  ).value;
  const authDirectory = join(root, 'client-auth');
  await mkdir(authDirectory, { mode: 0o700 });
  await writeFile(join(authDirectory, 'bench.auth_private'), `${grant.authLine}\n`, { mode: 0o600 });
  await clientControl.setConf({ ClientOnionAuthDir: authDirectory });
  // tor checks its whole configuration on every SETCONF: a ClientOnionAuthDir that is gone would make later
  // changes to the client (the onion0 teardown) fail.
  teardown.defer('unset ClientOnionAuthDir', () => clientControl.resetConf({ ClientOnionAuthDir: null }));
  await hostd.mvctlJson(['callhome', 'enable']);
  await readBanner(proxy, grant.onionAddress, Date.now() + 300_000);
  await hostd.stop();

  const timings: CallHomeTiming[] = [];
  for (let round = 0; round < context.rounds; round++) {
    await clientControl.signal('NEWNYM');
    // NEWNYM is rate-limited to one every 10 s; the client also needs the signal handled before the clock starts.
    await sleep(10_000);
    const spawnedAt = Date.now();
    const start = process.hrtime.bigint();
    const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
    await hostd.start();
    const answeredSeconds = elapsed();
    let status = (await hostd.mvctlJson<CallHomeStatus>(['callhome', 'status'])).value;
    while (!status.published) {
      if (elapsed() > 300) throw new Error('hostd did not publish the service within 300 s');
      await sleep(100);
      status = (await hostd.mvctlJson<CallHomeStatus>(['callhome', 'status'])).value;
    }
    await readBanner(proxy, grant.onionAddress, Date.now() + 300_000);
    const reachableSeconds = elapsed();
    if (status.onionAddress !== grant.onionAddress) {
      throw new Error(`hostd published ${status.onionAddress ?? 'nothing'}, not ${grant.onionAddress}`);
    }
    const publishedSeconds =
      status.lastUploadAt === null ? Number.NaN : (Date.parse(status.lastUploadAt) - spawnedAt) / 1000;
    timings.push({ answeredSeconds, publishedSeconds, reachableSeconds });
    await hostd.stop();
  }
  return timings;
}

/** Dials the onion address until the SSH jail's identification line comes back. */
async function readBanner(
  proxy: SocksProxyEndpoint,
  onionAddress: string,
  deadline: number,
): Promise<string> {
  const dialled = await dialOnionService(
    proxy,
    { host: onionAddress, port: 22 },
    { timeoutMs: deadline - Date.now(), retryDelayMs: 250, connectTimeoutMs: 60_000 },
  );
  if ('reply' in dialled) {
    throw new Error(`the client tor could not reach ${onionAddress}: ${describeSocksReply(dialled.reply)}`);
  }
  const banner = await readFirstLine(dialled.socket);
  if (!banner.startsWith('SSH-2.0-')) throw new Error(`not an SSH server behind the address: ${banner}`);
  return banner;
}
