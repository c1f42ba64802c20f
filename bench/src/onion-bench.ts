import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OnionDevice, SocketBridge, createTestNamespace, startTestTorNetwork } from '@multiverse/onion';
import type { DownloadRequest } from './onion-download-child.js';
import { timeHostdCallHome, type CallHomeTiming } from './onion-callhome-timing.js';
import { startBulkServer, timedDownload } from './onion-transfer.js';
import { formatNumber, printFigures, printTable } from './report.js';
import { Teardown } from './teardown.js';
import { median } from './timing.js';

const TRANSFER_MIB = 50;
const WARM_UP_MIB = 1;
const ROUNDS = 5;
const CALLHOME_ROUNDS = 3;
/** The target for both torifying paths against plain SOCKS. */
const TARGET_RATIO = 0.9;
/**
 * What a process in the namespace dials for the loopback server: it cannot address the host's 127.0.0.1, so
 * the bench's tor client maps this stand-in (RFC 2544 benchmarking range) to 127.0.0.1 (MapAddress).
 */
const STAND_IN = `198.18.${randomInt(1, 255)}.${randomInt(1, 255)}`;

type PathName = 'tor SOCKS port' | 'SocketBridge' | 'onion0';
interface TransferPath {
  readonly name: PathName;
  readonly request: (port: number, bytes: number) => DownloadRequest;
  readonly prefix: readonly string[];
}

/**
 * Throughput of a 50 MiB download from a loopback server over a private Tor network — through tor's SOCKS
 * port directly, through the SocketBridge, and through the onion0 device from a namespace — and the time
 * from spawning hostd (call-home enabled) until an authorized client reaches the SSH jail through the onion
 * address.
 */
export async function runOnion(): Promise<void> {
  const teardown = new Teardown();
  try {
    const loadAtStart = loadavg()[0]!;
    const network = await startTestTorNetwork();
    teardown.defer('stop the private Tor network', () => network.stop());
    const control = await network.client.openControl();
    teardown.defer('close the control connection', () => control.close());
    await control.setConf({ MapAddress: `${STAND_IN} 127.0.0.1` });

    const bulk = await startBulkServer(TRANSFER_MIB * 1024 * 1024);
    teardown.defer('close the bulk server', () => bulk.close());
    const warmUp = await startBulkServer(WARM_UP_MIB * 1024 * 1024);
    teardown.defer('close the warm-up server', () => warmUp.close());

    const namespace = await createTestNamespace('mvbench-onion');
    teardown.defer(`delete namespace ${namespace.name}`, () => namespace.delete());
    const device = new OnionDevice({
      name: `mvb${randomBytes(3).toString('hex')}`,
      subnet: `10.155.${randomInt(0, 256)}.${randomInt(0, 64) * 4}/30`,
    });
    teardown.defer(`take ${device.interfaceName} down`, () => device.down({ tor: control }));
    await device.up({ namespace: namespace.name, tor: control });

    const bridgeDirectory = await mkdtemp(join(tmpdir(), 'mvbench-bridge-'));
    teardown.defer('remove the bridge directory', () =>
      rm(bridgeDirectory, { recursive: true, force: true }),
    );
    const socks = { host: network.client.socksHost, port: network.client.socksPort };
    const bridge = await SocketBridge.start({ tor: socks, directory: bridgeDirectory });
    teardown.defer('close the bridge', () => bridge.close());
    const bridgeClient = await bridge.addClient({ name: 'bench' });

    const paths: readonly TransferPath[] = [
      {
        name: 'tor SOCKS port',
        request: (port, bytes) => ({ via: 'socks5', proxy: socks, host: '127.0.0.1', port, bytes }),
        prefix: [],
      },
      {
        name: 'SocketBridge',
        request: (port, bytes) => ({
          via: 'socks5',
          proxy: { path: bridgeClient.socketPath },
          host: '127.0.0.1',
          port,
          bytes,
        }),
        prefix: [],
      },
      {
        name: 'onion0',
        request: (port, bytes) => ({ via: 'direct', host: STAND_IN, port, bytes }),
        prefix: ['ip', 'netns', 'exec', namespace.name],
      },
    ];
    const throughput = await measureTransfers(paths, control, bulk.port, warmUp.port);

    const callHome = await timeHostdCallHome({
      network,
      clientControl: control,
      rounds: CALLHOME_ROUNDS,
      teardown,
    });
    report(throughput, callHome, { bootstrapSeconds: network.bootstrapSeconds, loadAtStart });
  } finally {
    await teardown.run().catch((error: unknown) => {
      console.error('onion could not clean up everything it started:', error);
      process.exitCode = 1;
    });
  }
}

/** MiB/s of every round of every path. Rounds go round the paths, each round on fresh circuits. */
async function measureTransfers(
  paths: readonly TransferPath[],
  control: { signal(signal: 'NEWNYM'): Promise<void> },
  bulkPort: number,
  warmUpPort: number,
): Promise<Map<PathName, number[]>> {
  // Warm-up: builds each path's first circuit and checks it carries the right number of bytes.
  for (const path of paths)
    await timedDownload(path.request(warmUpPort, WARM_UP_MIB * 1024 * 1024), path.prefix);
  const samples = new Map<PathName, number[]>(paths.map((path) => [path.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // New circuits for every round, so no path keeps a lucky or unlucky one throughout.
    await control.signal('NEWNYM');
    await sleep(1_000);
    for (let offset = 0; offset < paths.length; offset++) {
      const path = paths[(round + offset) % paths.length]!;
      samples
        .get(path.name)!
        .push(await timedDownload(path.request(bulkPort, TRANSFER_MIB * 1024 * 1024), path.prefix));
    }
  }
  return samples;
}

function report(
  throughput: Map<PathName, number[]>,
  callHome: readonly CallHomeTiming[],
  context: { bootstrapSeconds: number; loadAtStart: number },
): void {
  const medianOf = (name: PathName): number => median(throughput.get(name)!);
  const socks = medianOf('tor SOCKS port');
  const ratio = (name: PathName): number => medianOf(name) / socks;
  console.log(
    `\nonion: ${TRANSFER_MIB} MiB from a loopback server over a private Tor network (3 authorities, 3 relays, ` +
      `bootstrapped in ${context.bootstrapSeconds.toFixed(1)} s), median of ${ROUNDS} rounds, new circuits each round`,
  );
  printTable(
    'throughput in MiB/s (higher is better); ratio = median against the same tor SOCKS port',
    [...throughput].map(([name, samples]) => ({
      label: name,
      values: {
        median: medianOf(name),
        min: Math.min(...samples),
        max: Math.max(...samples),
        ratio: name === 'tor SOCKS port' ? '' : `${formatNumber(ratio(name))}x`,
        target: name === 'tor SOCKS port' ? '' : `>= ${TARGET_RATIO}x`,
        met: name === 'tor SOCKS port' ? '' : ratio(name) >= TARGET_RATIO ? 'yes' : 'NO',
      },
    })),
  );
  printTable(
    'call-home: seconds from spawning hostd (call-home enabled, its tor started from its data directory) until …',
    callHome.map((timing, index) => ({
      label: `round ${index + 1}`,
      values: {
        'hostd answered': timing.answeredSeconds,
        'descriptor uploaded': timing.publishedSeconds,
        'client read the SSH banner': timing.reachableSeconds,
      },
    })),
  );
  console.log(
    `\nload average over 1 min: ${context.loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`,
  );
  const rounded = (value: number): number => Math.round(value * 100) / 100;
  printFigures('onion', {
    onion0_ratio_vs_socks: rounded(ratio('onion0')),
    bridge_ratio_vs_socks: rounded(ratio('SocketBridge')),
    callhome_reachable_s: rounded(median(callHome.map((timing) => timing.reachableSeconds))),
  });
}
