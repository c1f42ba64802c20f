import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CallHome,
  MemoryOnionServiceKeyStore,
  Socks5Error,
  connectThroughSocks5,
  httpGetOverSocket,
  type LoopbackHttpServer,
  type SocksProxyEndpoint,
  type TestTorClient,
  type TorControlClient,
} from '@multiverse/onion';

export interface CallHomeTiming {
  /** From start() until tor reported the descriptor uploaded. */
  readonly publishedSeconds: number;
  /** From start() until a client holding the auth line got an HTTP answer through the onion address. */
  readonly reachableSeconds: number;
}

/**
 * Publishes a new service (a new key, so nothing is cached anywhere) through an already bootstrapped tor and
 * times how long until an authorized client reaches it. The client's key goes in place before the clock
 * starts; the client dials once call-home reports the descriptor uploaded, as a person told "it is up" would.
 */
export async function timeCallHomeReachable(context: {
  readonly serviceTor: TestTorClient;
  readonly clientControl: TorControlClient;
  readonly clientProxy: SocksProxyEndpoint;
  readonly web: LoopbackHttpServer;
  /** A fresh directory for this run's ClientOnionAuthDir (tor rereads the keys when the option changes). */
  readonly authDirectory: string;
}): Promise<CallHomeTiming> {
  const home = new CallHome({
    connect: () => context.serviceTor.openControl(),
    keyStore: new MemoryOnionServiceKeyStore(),
    ports: [{ virtualPort: 80, target: { host: '127.0.0.1', port: context.web.port } }],
    republishAfterMs: 20_000,
  });
  try {
    const client = await home.addClient('bench');
    await mkdir(context.authDirectory, { recursive: true, mode: 0o700 });
    await writeFile(join(context.authDirectory, 'bench.auth_private'), `${client.authLine}\n`, {
      mode: 0o600,
    });
    await context.clientControl.setConf({ ClientOnionAuthDir: context.authDirectory });

    const start = process.hrtime.bigint();
    const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
    await home.start();
    await home.waitUntilPublished(180_000);
    const publishedSeconds = elapsed();
    for (;;) {
      try {
        const socket = await connectThroughSocks5(context.clientProxy, {
          host: client.onionAddress,
          port: 80,
        });
        const response = await httpGetOverSocket(socket, client.onionAddress);
        if (response.body !== context.web.body) throw new Error('another server answered');
        return { publishedSeconds, reachableSeconds: elapsed() };
      } catch (error) {
        if (!(error instanceof Socks5Error) || elapsed() > 300) throw error;
        await sleep(250);
      }
    }
  } finally {
    await home.stop();
  }
}
