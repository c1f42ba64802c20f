import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectThroughSocks5 } from '../bridge/socks5-client.js';
import { Socks5Error } from '../bridge/socks5-error.js';
import { parseReplyArguments } from '../control/arguments.js';
import { TorControlClient } from '../control/client.js';
import type { HsDescriptorEvent } from '../control/events.js';
import type { OnionPortTarget } from '../control/onion-service.js';
import { createAuthorityIdentity, writeEmptyTorrc } from './authority-keys.js';
import { TestTorNetworkError } from './errors.js';
import { allocateFreePorts } from './free-ports.js';
import { OWNER_FILE, spawnTorNode, sweepAbandonedNetworks, type TorNodeProcess } from './tor-process.js';
import {
  NODE_FILES,
  buildTorrc,
  clientTorrcLines,
  type DirectoryAuthority,
  type NodeTorrc,
  type TestNodeRole,
} from './torrc.js';

export interface TestTorNetworkOptions {
  /** Relays that are neither authorities nor exits (default 1). */
  readonly middleRelays?: number;
  /** Exits that allow loopback destinations (default 2). */
  readonly exits?: number;
  /** Address the authorities and relays bind and advertise (default 127.0.0.1); a namespace test may use a veth address. */
  readonly address?: string;
  /** Limit for consensus plus client bootstrap (default 150 s). */
  readonly bootstrapTimeoutMs?: number;
  /** Consensus voting interval in seconds (default 20). */
  readonly votingIntervalSeconds?: number;
  /** Where the network's directory is created (default the OS temp directory). */
  readonly parentDirectory?: string;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
}

/** A tor client of the test network. */
export interface TestTorClient {
  readonly nickname: string;
  readonly pid: number;
  readonly socksHost: string;
  readonly socksPort: number;
  /** The same SOCKS listener as a unix socket (reachable from other network namespaces). */
  readonly socksSocketPath: string;
  readonly controlPort: number;
  readonly controlSocketPath: string;
  readonly cookieFile: string;
  /** A new, authenticated control connection; the caller closes it. */
  openControl(): Promise<TorControlClient>;
}

export interface AddTestOnionServiceOptions {
  /** Where the service's connections go. */
  readonly target: OnionPortTarget;
  /** The port clients dial on the .onion address (default 80). */
  readonly virtualPort?: number;
  /** base32 x25519 public keys of the clients allowed to see the service. */
  readonly clientAuthV3?: readonly string[];
  /** Reuse an ED25519-V3 key (the same address again). */
  readonly privateKey?: string;
  /** Limit for the descriptor upload (default 90 s). */
  readonly publishTimeoutMs?: number;
}

export interface TestOnionService {
  readonly serviceId: string;
  readonly onionAddress: string;
  readonly virtualPort: number;
  /** The ED25519-V3 key blob, to publish the same address again. */
  readonly privateKey: string;
  remove(): Promise<void>;
}

export interface StartTestClientOptions {
  /** 1-19 letters and digits, unique in the network. */
  readonly nickname: string;
  readonly commandPrefix?: readonly string[];
  readonly networkDisabled?: boolean;
}

/** One tor process of the network. */
export interface TestTorNode {
  readonly nickname: string;
  readonly role: TestNodeRole;
  readonly pid: number;
  readonly dataDirectory: string;
}

export interface TestTorNetwork {
  readonly directory: string;
  /** Every tor the network has started so far (authorities, relays, clients). */
  nodes(): readonly TestTorNode[];
  readonly authorities: readonly DirectoryAuthority[];
  /**
   * torrc lines that make a tor started elsewhere (hostd's own, through MULTIVERSE_TORRC_EXTRA) a client of
   * this network: its settings and DirAuthority lines.
   */
  readonly clientTorrcLines: readonly string[];
  readonly client: TestTorClient;
  /** Seconds from start until consensus and client bootstrap reached 100%. */
  readonly bootstrapSeconds: number;
  /** Publishes an onion service on the network's service host and waits until its descriptor is uploaded. */
  addOnionService(options: AddTestOnionServiceOptions): Promise<TestOnionService>;
  /**
   * Retries a connection through the client until `host:port` answers (a fresh onion service gives SOCKS
   * error 4 / 0xF0 for a few seconds after publication); bounded by `timeoutMs` (default 60 s).
   */
  waitUntilReachable(host: string, port: number, timeoutMs?: number): Promise<number>;
  /**
   * Starts another client, e.g. inside a network namespace via `commandPrefix: ['ip','netns','exec','ns1']`,
   * and waits for its bootstrap, unless `networkDisabled`: then it starts with DisableNetwork 1 and is
   * returned at once, for a test that wants to watch bootstrap (SETCONF DisableNetwork=0 starts it).
   */
  startClient(options: StartTestClientOptions): Promise<TestTorClient>;
  /**
   * Stops a client started by startClient (or the network's own `client`) by PID and starts it again with
   * the same torrc, data directory and sockets, as a restarted system tor would; resolves once it has
   * bootstrapped again, with its new PID. Control connections to the old process see it close.
   */
  restartClient(nickname: string): Promise<TestTorClient>;
  /** Kills every tor of the network by PID and deletes its directory; safe to call twice. */
  stop(): Promise<void>;
}

const DIRECTORY_PREFIX = 'multiverse-tor-net-';
/**
 * A descriptor normally reaches the HSDirs 1-3 s after ADD_ONION here (also with both cores busy). One that
 * has not after this long (times the attempt number) is not coming: the service is published again.
 */
const PUBLISH_ATTEMPT_MS = 20_000;
const AUTHORITY_COUNT = 3;
const POLL_MS = 250;

interface RunningNode {
  readonly nickname: string;
  readonly role: TestNodeRole;
  readonly process: TorNodeProcess;
  /** How it was launched, so restartClient can launch it the same way. */
  readonly plan: NodePlan;
  readonly commandPrefix: readonly string[] | undefined;
}

type NodePlan = Omit<
  NodeTorrc,
  'dataDirectory' | 'authorities' | 'owningProcessId' | 'votingIntervalSeconds'
>;

/**
 * Starts a private Tor network on this machine from Debian's `tor` and `tor-gencert`: three directory
 * authorities, relays (two of them exits that allow loopback), a client and an onion-service host. Resolves
 * once the consensus lists every relay and the client has bootstrapped to 100%.
 */
export async function startTestTorNetwork(options: TestTorNetworkOptions = {}): Promise<TestTorNetwork> {
  const started = Date.now();
  const address = options.address ?? '127.0.0.1';
  const exitCount = options.exits ?? 2;
  const middleCount = options.middleRelays ?? 1;
  const votingIntervalSeconds = options.votingIntervalSeconds ?? 20;
  const deadline = started + (options.bootstrapTimeoutMs ?? 150_000);
  const log = options.log ?? ((line: string) => process.stderr.write(`[tor-test-network] ${line}\n`));
  const parentDirectory = options.parentDirectory ?? tmpdir();

  sweepAbandonedNetworks(parentDirectory, DIRECTORY_PREFIX);
  const directory = mkdtempSync(join(parentDirectory, DIRECTORY_PREFIX));
  writeFileSync(join(directory, OWNER_FILE), `${process.pid}\n`);
  const emptyTorrc = join(directory, 'empty-torrc');

  const nodes: RunningNode[] = [];
  const controls: TorControlClient[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const control of controls) control.close();
    await Promise.all(nodes.map((node) => node.process.stop()));
    rmSync(directory, { recursive: true, force: true });
  };

  try {
    await writeEmptyTorrc(emptyTorrc);
    const ports = await allocateFreePorts(AUTHORITY_COUNT * 2 + middleCount + exitCount, address);
    const [clientSocksPort] = await allocateFreePorts(1, '127.0.0.1');
    const takePort = (): number => ports.shift() as number;

    const authorityPlans = Array.from({ length: AUTHORITY_COUNT }, (_, index) => ({
      nickname: `auth${index + 1}`,
      orPort: takePort(),
      dirPort: takePort(),
    }));
    const authorities: DirectoryAuthority[] = await Promise.all(
      authorityPlans.map(async (plan) => {
        const dataDirectory = await makeNodeDirectory(directory, plan.nickname);
        const identity = await createAuthorityIdentity({ ...plan, dataDirectory, address, emptyTorrc });
        return { ...plan, address, ...identity };
      }),
    );

    const plans: NodePlan[] = [
      ...authorities.map((authority) => ({
        role: 'authority' as const,
        nickname: authority.nickname,
        address,
        orPort: authority.orPort,
        dirPort: authority.dirPort,
      })),
      ...Array.from({ length: exitCount }, (_, index) => ({
        role: 'exit' as const,
        nickname: `exit${index + 1}`,
        address,
        orPort: takePort(),
      })),
      ...Array.from({ length: middleCount }, (_, index) => ({
        role: 'relay' as const,
        nickname: `relay${index + 1}`,
        address,
        orPort: takePort(),
      })),
      { role: 'client' as const, nickname: 'client', address, socksPort: clientSocksPort },
      { role: 'client' as const, nickname: 'onionhost', address, onionServiceLog: true },
    ];

    const launch = async (plan: NodePlan, commandPrefix?: readonly string[]): Promise<RunningNode> => {
      const dataDirectory = await makeNodeDirectory(directory, plan.nickname);
      const torrcPath = join(dataDirectory, 'torrc');
      await writeFile(
        torrcPath,
        buildTorrc({
          ...plan,
          dataDirectory,
          authorities,
          owningProcessId: process.pid,
          votingIntervalSeconds,
        }),
        { mode: 0o600 },
      );
      const node: RunningNode = {
        nickname: plan.nickname,
        role: plan.role,
        plan,
        commandPrefix,
        process: spawnTorNode({
          nickname: plan.nickname,
          dataDirectory,
          torrcPath,
          emptyTorrc,
          ...(commandPrefix ? { commandPrefix } : {}),
        }),
      };
      nodes.push(node);
      return node;
    };

    for (const plan of plans) await launch(plan);
    const clientNode = nodes.find((node) => node.nickname === 'client') as RunningNode;
    const hostNode = nodes.find((node) => node.nickname === 'onionhost') as RunningNode;

    const failIfAnyExited = async (): Promise<void> => {
      const dead = nodes.find((node) => node.process.hasExited());
      if (dead) {
        throw new TestTorNetworkError(
          'TOR_NETWORK_NODE_EXITED',
          `tor node ${dead.nickname} exited unexpectedly; its log ends:\n${await dead.process.logTail()}`,
        );
      }
    };

    // Every node must have the consensus, not only the client: an exit refuses streams (END MISC) from a
    // circuit whose previous hop it does not yet know as a relay, which made early fetches fail in about
    // one run in three when only the client's bootstrap was awaited.
    const nodeControls = await Promise.all(
      nodes.map((node) => openNodeControl(node, deadline, failIfAnyExited)),
    );
    controls.push(...nodeControls);
    const controlOf = (node: RunningNode): TorControlClient =>
      nodeControls[nodes.indexOf(node)] as TorControlClient;
    const clientControl = controlOf(clientNode);
    const hostControl = controlOf(hostNode);
    await hostControl.setEvents(['HS_DESC']);

    const relayCount = AUTHORITY_COUNT + middleCount + exitCount;
    const firstAuthority = nodes.find((node) => node.role === 'authority') as RunningNode;
    await waitForConsensus(controlOf(firstAuthority), relayCount, deadline, failIfAnyExited);
    const consensusSeconds = (Date.now() - started) / 1000;
    const nodeSeconds = await Promise.all(
      nodes.map(async (node) => {
        await waitForBootstrap(controlOf(node), node.nickname, deadline, failIfAnyExited);
        // 100% bootstrap can be reached on an older consensus that lacks some relays (seen once under
        // load: the client listed 3 of 6); wait until this node's own consensus lists them all.
        await waitForConsensus(controlOf(node), relayCount, deadline, failIfAnyExited);
        return { nickname: node.nickname, seconds: (Date.now() - started) / 1000 };
      }),
    );
    const slowest = nodeSeconds.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    // Relays' control connections were only needed to watch them bootstrap.
    for (const node of nodes) {
      if (node !== clientNode && node !== hostNode) controlOf(node).close();
    }
    const bootstrapSeconds = (Date.now() - started) / 1000;
    log(
      `${relayCount} relays (${exitCount} exits), a client and an onion host bootstrapped in ` +
        `${bootstrapSeconds.toFixed(1)} s (consensus at ${consensusSeconds.toFixed(1)} s, last node ${slowest.nickname})`,
    );

    const describeClient = async (
      node: RunningNode,
      control: TorControlClient,
      socksPort: number,
    ): Promise<TestTorClient> => {
      const listeners = parseReplyArguments(await control.getInfoValue('net/listeners/control')).positional;
      const tcpControl = listeners.find((word) => /^127\.0\.0\.1:[0-9]+$/.test(word));
      if (!tcpControl) {
        throw new TestTorNetworkError(
          'TOR_NETWORK_NODE_EXITED',
          `${node.nickname} opened no TCP control port`,
        );
      }
      const controlPort = Number(tcpControl.split(':')[1]);
      const dataDirectory = node.process.dataDirectory;
      const controlSocketPath = join(dataDirectory, NODE_FILES.controlSocket);
      return {
        nickname: node.nickname,
        pid: node.process.pid,
        socksHost: '127.0.0.1',
        socksPort,
        socksSocketPath: join(dataDirectory, NODE_FILES.socksSocket),
        controlPort,
        controlSocketPath,
        cookieFile: join(dataDirectory, 'control_auth_cookie'),
        openControl: () => TorControlClient.open({ path: controlSocketPath }),
      };
    };
    const client = await describeClient(clientNode, clientControl, clientSocksPort as number);

    const assertRunning = (): void => {
      if (stopped) throw new TestTorNetworkError('TOR_NETWORK_STOPPED', 'the test Tor network was stopped');
    };

    const addOnionService = async (request: AddTestOnionServiceOptions): Promise<TestOnionService> => {
      assertRunning();
      const virtualPort = request.virtualPort ?? 80;
      const timeoutMs = request.publishTimeoutMs ?? 90_000;
      const deadline = Date.now() + timeoutMs;
      const failedAttempts: string[] = [];
      let privateKey = request.privateKey;
      for (let attempt = 1; ; attempt += 1) {
        await waitForServiceHost(hostControl, deadline, failIfAnyExited);
        const seen: HsDescriptorEvent[] = [];
        const unsubscribe = hostControl.onEvent('hsDescriptor', (event) => seen.push(event));
        let serviceId: string;
        try {
          const result = await hostControl.addOnion({
            key: privateKey ? { type: 'ed25519-v3', privateKey } : { type: 'new' },
            ports: [{ virtualPort, target: request.target }],
            ...(request.clientAuthV3 ? { clientAuthV3: request.clientAuthV3 } : {}),
          });
          serviceId = result.serviceId;
          // An upload of the previous attempt's descriptor can still complete after DEL_ONION; only an
          // UPLOADED reported after this ADD_ONION's reply is this attempt's.
          const firstOwnEvent = seen.length;
          privateKey ??= result.privateKey;
          if (privateKey === undefined)
            throw new Error('tor returned no private key for a new onion service');
          const uploaded = await pollUntil(
            () =>
              seen
                .slice(firstOwnEvent)
                .some((event) => event.address === serviceId && event.action === 'UPLOADED'),
            Math.min(deadline, Date.now() + PUBLISH_ATTEMPT_MS * attempt),
            failIfAnyExited,
          );
          if (uploaded) {
            return {
              serviceId,
              onionAddress: result.onionAddress,
              virtualPort,
              privateKey,
              remove: async () => {
                if (!stopped) await hostControl.delOnion(serviceId);
              },
            };
          }
        } finally {
          unsubscribe();
        }
        const events = seen
          .filter((event) => event.address === serviceId)
          .map((event) => `${event.action}${event.reason ? ` (${event.reason})` : ''}`);
        failedAttempts.push(`attempt ${attempt}: HS_DESC ${events.join(', ') || 'none'}`);
        // tor uploads only once every intro circuit is up and never retries a failed upload for an hour;
        // removing the service and adding it again (same key, same address) starts both afresh.
        await hostControl.delOnion(serviceId);
        if (Date.now() >= deadline) {
          const hostStatus = describeServiceHostStatus(await readServiceHostStatus(hostControl));
          const reasons = await onionServiceLogLines(hostNode.process.dataDirectory, serviceId);
          throw new TestTorNetworkError(
            'TOR_NETWORK_ONION_TIMEOUT',
            `the descriptor of ${serviceId}.onion was not uploaded within ${timeoutMs} ms ` +
              `(${failedAttempts.join('; ')}; host: ${hostStatus})` +
              (reasons ? `; the host's onion-service log ends:\n${reasons}` : ''),
          );
        }
        log(
          `the descriptor of ${serviceId}.onion was not uploaded (${failedAttempts.at(-1)}); publishing again`,
        );
      }
    };

    const waitUntilReachable = async (host: string, port: number, timeoutMs = 60_000): Promise<number> => {
      assertRunning();
      const begin = Date.now();
      let attempts = 0;
      let lastError: unknown;
      while (Date.now() - begin < timeoutMs) {
        attempts += 1;
        try {
          const socket = await connectThroughSocks5(
            { host: client.socksHost, port: client.socksPort },
            { host, port },
            { timeoutMs: Math.max(1_000, timeoutMs - (Date.now() - begin)) },
          );
          socket.destroy();
          return attempts;
        } catch (error) {
          if (!(error instanceof Socks5Error) || error.code !== 'SOCKS5_REPLY') throw error;
          lastError = error;
          await sleep(1_000);
        }
      }
      throw new TestTorNetworkError(
        'TOR_NETWORK_ONION_TIMEOUT',
        `${host}:${port} was not reachable through the test network within ${timeoutMs} ms ` +
          `(${attempts} attempts; last: ${lastError instanceof Error ? lastError.message : String(lastError)})`,
        { cause: lastError },
      );
    };

    const startClient = async (request: StartTestClientOptions): Promise<TestTorClient> => {
      assertRunning();
      if (
        !/^[A-Za-z0-9]{1,19}$/.test(request.nickname) ||
        nodes.some((node) => node.nickname === request.nickname)
      ) {
        throw new TestTorNetworkError(
          'TOR_NETWORK_INVALID_OPTIONS',
          `client nickname ${JSON.stringify(request.nickname)} must be 1-19 letters/digits and unused`,
        );
      }
      const [socksPort] = await allocateFreePorts(1, '127.0.0.1');
      const node = await launch(
        {
          role: 'client',
          nickname: request.nickname,
          address,
          socksPort,
          ...(request.networkDisabled ? { networkDisabled: true } : {}),
        },
        request.commandPrefix,
      );
      const clientDeadline = Date.now() + (options.bootstrapTimeoutMs ?? 150_000);
      const control = await openNodeControl(node, clientDeadline, failIfAnyExited);
      controls.push(control);
      if (!request.networkDisabled)
        await waitForBootstrap(control, request.nickname, clientDeadline, failIfAnyExited);
      return describeClient(node, control, socksPort as number);
    };

    const restartClient = async (nickname: string): Promise<TestTorClient> => {
      assertRunning();
      const old = nodes.find((node) => node.nickname === nickname);
      if (old?.role !== 'client' || old.plan.socksPort === undefined) {
        throw new TestTorNetworkError(
          'TOR_NETWORK_INVALID_OPTIONS',
          `${JSON.stringify(nickname)} is not a client of this network with a SOCKS port`,
        );
      }
      await old.process.stop();
      nodes.splice(nodes.indexOf(old), 1);
      // The new tor writes a new cookie; waiting for these files must not find the old ones.
      for (const file of [NODE_FILES.controlSocket, 'control_auth_cookie']) {
        await rm(join(old.process.dataDirectory, file), { force: true });
      }
      const node = await launch({ ...old.plan, networkDisabled: false }, old.commandPrefix);
      const clientDeadline = Date.now() + (options.bootstrapTimeoutMs ?? 150_000);
      const control = await openNodeControl(node, clientDeadline, failIfAnyExited);
      controls.push(control);
      await waitForBootstrap(control, nickname, clientDeadline, failIfAnyExited);
      return describeClient(node, control, old.plan.socksPort);
    };

    return {
      directory,
      nodes: () =>
        nodes.map((node) => ({
          nickname: node.nickname,
          role: node.role,
          pid: node.process.pid,
          dataDirectory: node.process.dataDirectory,
        })),
      authorities,
      clientTorrcLines: clientTorrcLines(authorities),
      client,
      bootstrapSeconds,
      addOnionService,
      waitUntilReachable,
      startClient,
      restartClient,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function makeNodeDirectory(networkDirectory: string, nickname: string): Promise<string> {
  const dataDirectory = join(networkDirectory, nickname);
  await mkdir(dataDirectory, { recursive: true, mode: 0o700 });
  return dataDirectory;
}

/** Waits for the node's control socket to appear, then connects and authenticates with its cookie. */
async function openNodeControl(
  node: RunningNode,
  deadline: number,
  failIfAnyExited: () => Promise<void>,
): Promise<TorControlClient> {
  const socketPath = join(node.process.dataDirectory, NODE_FILES.controlSocket);
  const cookiePath = join(node.process.dataDirectory, 'control_auth_cookie');
  await waitUntil(
    async () => (await exists(socketPath)) && (await exists(cookiePath)),
    deadline,
    () => timeoutError(`${node.nickname} did not open its control socket`),
    failIfAnyExited,
  );
  return TorControlClient.open({ path: socketPath });
}

/** How often a node that has not bootstrapped yet is told to reload (see waitForBootstrap). */
const NUDGE_INTERVAL_MS = 5_000;

/**
 * Waits for a node to reach 100%. Nodes that asked for the consensus before the first one existed got 404s
 * and backed off; a reload (at once, then every few seconds) makes tor retry its directory fetches
 * sooner. On this machine the gap between the consensus and the last node's 100% was 8-46 s without it
 * and 1-20 s with it.
 */
async function waitForBootstrap(
  control: TorControlClient,
  nickname: string,
  deadline: number,
  failIfAnyExited: () => Promise<void>,
): Promise<void> {
  let last = '';
  let lastNudge = 0;
  await waitUntil(
    async () => {
      const status = await control.bootstrapStatus();
      last = `${status.progress}% (${status.tag}: ${status.summary})`;
      if (status.progress === 100) return true;
      if (Date.now() - lastNudge >= NUDGE_INTERVAL_MS) {
        lastNudge = Date.now();
        await control.signal('RELOAD');
      }
      return false;
    },
    deadline,
    () => timeoutError(`${nickname} did not bootstrap; last status ${last}`),
    failIfAnyExited,
  );
}

/** What an onion-service host reports about the directory state descriptor uploads depend on. */
interface ServiceHostStatus {
  readonly enoughDirInfo: boolean;
  readonly circuitEstablished: boolean;
  /** `consensus/valid-until` in ms since the epoch; undefined while tor has no consensus. */
  readonly consensusValidUntil: number | undefined;
}

async function readServiceHostStatus(control: TorControlClient): Promise<ServiceHostStatus> {
  const status = await control.getInfo(['status/enough-dir-info', 'status/circuit-established']);
  // tor answers 551 while it has no consensus at all.
  const validUntil = await control.getInfoValue('consensus/valid-until').catch(() => undefined);
  const parsed = validUntil === undefined ? NaN : Date.parse(`${validUntil.replace(' ', 'T')}Z`);
  return {
    enoughDirInfo: status.get('status/enough-dir-info') === '1',
    circuitEstablished: status.get('status/circuit-established') === '1',
    consensusValidUntil: Number.isNaN(parsed) ? undefined : parsed,
  };
}

function describeServiceHostStatus(status: ServiceHostStatus): string {
  const consensus =
    status.consensusValidUntil === undefined
      ? 'no consensus'
      : `consensus valid until ${new Date(status.consensusValidUntil).toISOString()}`;
  return (
    `enough-dir-info=${status.enoughDirInfo ? 1 : 0} circuit-established=${status.circuitEstablished ? 1 : 0} ` +
    `${consensus} (now ${new Date().toISOString()})`
  );
}

/**
 * Waits until the onion-service host has enough directory information and a working circuit: without them
 * tor creates the descriptors but neither builds intro circuits nor uploads. (tor 0.4.9 uploads with a
 * "reasonably live" consensus, up to a day past valid-until, so the 40 s validity of this network's
 * consensuses is not a condition here; it is reported for diagnosis.) A reload makes a host that fell
 * behind fetch directory information again at once.
 */
async function waitForServiceHost(
  control: TorControlClient,
  deadline: number,
  failIfAnyExited: () => Promise<void>,
): Promise<void> {
  let status: ServiceHostStatus | undefined;
  let lastNudge = Date.now();
  await waitUntil(
    async () => {
      status = await readServiceHostStatus(control);
      if (status.enoughDirInfo && status.circuitEstablished) return true;
      if (Date.now() - lastNudge >= NUDGE_INTERVAL_MS) {
        lastNudge = Date.now();
        await control.signal('RELOAD');
      }
      return false;
    },
    deadline,
    () =>
      new TestTorNetworkError(
        'TOR_NETWORK_ONION_TIMEOUT',
        `the onion-service host never became ready to publish (${status ? describeServiceHostStatus(status) : 'no status'})`,
      ),
    failIfAnyExited,
  );
}

/** The host's last onion-service log lines about one service: tor's reasons for not uploading. */
async function onionServiceLogLines(dataDirectory: string, serviceId: string, count = 8): Promise<string> {
  const text = await readFile(join(dataDirectory, NODE_FILES.onionServiceLog), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.includes(serviceId))
    .slice(-count)
    .join('\n');
}

/** Waits until the consensus (as `control`'s tor sees it) lists every relay as Running. */
async function waitForConsensus(
  control: TorControlClient,
  relayCount: number,
  deadline: number,
  failIfAnyExited: () => Promise<void>,
): Promise<void> {
  let running = 0;
  await waitUntil(
    async () => {
      const consensus = await control.getInfoValue('ns/all').catch(() => '');
      running = consensus
        .split('\n')
        .filter((line) => line.startsWith('s ') && line.split(' ').includes('Running')).length;
      return running >= relayCount;
    },
    deadline,
    () => timeoutError(`the consensus did not list every relay as running (${running}/${relayCount})`),
    failIfAnyExited,
  );
}

async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  deadline: number,
  onTimeout: () => Error,
  failIfAnyExited: () => Promise<void>,
): Promise<void> {
  if (!(await pollUntil(condition, deadline, failIfAnyExited))) throw onTimeout();
}

/** Checks `condition` every POLL_MS until it holds (true) or `deadline` passes (false). */
async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  deadline: number,
  failIfAnyExited: () => Promise<void>,
): Promise<boolean> {
  for (;;) {
    await failIfAnyExited();
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
}

function timeoutError(message: string): TestTorNetworkError {
  return new TestTorNetworkError('TOR_NETWORK_BOOTSTRAP_TIMEOUT', `${message} before the time limit`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
