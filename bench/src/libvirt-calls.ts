import { loadavg } from 'node:os';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { BenchDomains } from './bench-domains.js';
import { ExpectedDomains, libvirtTsPaths, nativePaths, virshPaths, WORKLOADS } from './call-paths.js';
import type { CallPath, UnavailablePath, Workload } from './call-paths.js';
import { openNativeBinding } from './native-libvirt.js';
import type { NativeDomain } from './native-libvirt.js';
import { formatNumber, printFigures, printTable } from './report.js';
import type { BenchRow } from './report.js';
import { Teardown } from './teardown.js';
import { costPerCall, geometricMean, median, settle } from './timing.js';
import type { CallCost } from './timing.js';
import { Virsh } from './virsh.js';

const CALLS = 1_000;
const DOMAIN_COUNT = 200;
const REPETITIONS = 7;
/** Spawning 1,000 virsh takes ~18 s per workload and repetition on an idle machine; a sample gives the same mean. */
const VIRSH_SPAWN_SAMPLE = 60;
/**
 * libvirt-ts asks libvirtd to open test:///default. virsh and the native binding (libvirt's C library) would open
 * that URI in-process, on a private test driver without the daemon, the socket or this run's domains; the `+unix`
 * form sends them to the same daemon over the same socket, so every path does the same work.
 */
const LIBVIRT_TS_URI = 'test:///default';
const C_LIBRARY_URI = 'test+unix:///default';

/** The ratios of µs per call this bench reports, issue 2's targets among them: which path with which, on what. */
interface Comparison {
  key: string;
  label: string;
  slower: string;
  faster: string;
  target?: number;
  workloads?: readonly Workload[];
}
const COMPARISONS: readonly Comparison[] = [
  {
    key: 'speedup_vs_virsh',
    label: 'libvirt-ts vs virsh, one process per call',
    slower: 'virsh, one process per call',
    faster: 'libvirt-ts, sequential',
    target: 50,
  },
  {
    key: 'speedup_vs_native',
    label: 'libvirt-ts vs @unraid/libvirt, sequential',
    slower: '@unraid/libvirt, sequential',
    faster: 'libvirt-ts, sequential',
    target: 1.2,
  },
  {
    key: 'pipelined_over_sequential',
    label: 'libvirt-ts pipelined over sequential',
    slower: 'libvirt-ts, sequential',
    faster: 'libvirt-ts, pipelined',
    target: 2,
  },
  {
    key: 'speedup_vs_virsh_batch',
    label: 'libvirt-ts vs virsh, one process, batch on stdin',
    slower: 'virsh, one process, batch on stdin',
    faster: 'libvirt-ts, sequential',
  },
  {
    key: 'speedup_vs_native_pipelined',
    label: 'libvirt-ts vs @unraid/libvirt, both pipelined',
    slower: '@unraid/libvirt, pipelined',
    faster: 'libvirt-ts, pipelined',
  },
  {
    key: 'speedup_vs_native_same_call',
    label: 'libvirt-ts vs @unraid/libvirt, both domainGetInfo',
    slower: '@unraid/libvirt, sequential',
    faster: 'libvirt-ts, sequential, domainGetInfo',
    workloads: ['getState'],
  },
];

/** Median cost per call of each path that ran each workload. */
type Medians = Map<string, Partial<Record<Workload, CallCost>>>;

/**
 * The same calls — the state of each of 200 domains in turn, and the list of all domains — through libvirt-ts
 * (one at a time and 1,000 in flight), virsh (a process per call, and one process fed a batch on stdin) and the
 * native binding @unraid/libvirt; prints µs per call, the ratios against their targets, then one JSON line.
 */
export async function runLibvirtCalls(): Promise<void> {
  const teardown = new Teardown();
  try {
    const loadAtStart = loadavg()[0]!;
    const { paths, listed, prefix } = await setUp(teardown);
    const medians = await measure(paths.filter((path): path is CallPath => 'workloads' in path));
    report(paths, medians, { listed, prefix, loadAtStart });
  } finally {
    // Reported rather than thrown, so it cannot hide the error that made the run stop early.
    await teardown.run().catch((error: unknown) => {
      console.error('libvirt-calls could not clean up everything it started:', error);
      process.exitCode = 1;
    });
  }
}

async function setUp(teardown: Teardown) {
  // One client stays open throughout: test:///default is reset when its last client disconnects.
  const client = await LibvirtClient.connect(LIBVIRT_TS_URI);
  teardown.defer('close the libvirt-ts client', () => client.close());
  const benchDomains = new BenchDomains(client);
  teardown.defer(
    `undefine the domains named ${benchDomains.prefix}*`,
    async () => void (await benchDomains.remove()),
  );
  await benchDomains.define(DOMAIN_COUNT);
  const expected = new ExpectedDomains(benchDomains.domains.map((domain) => domain.name));
  const paths: (CallPath | UnavailablePath)[] = libvirtTsPaths(client, benchDomains.domains, expected, CALLS);

  const virsh = new Virsh(C_LIBRARY_URI);
  teardown.defer('stop virsh processes', () => virsh.stopAll());
  const virshProblem = await virsh.run(['uri']).then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
  if (virshProblem === undefined) paths.push(...virshPaths(virsh, expected, CALLS, VIRSH_SPAWN_SAMPLE));
  else {
    paths.push({ label: 'virsh, one process per call', unavailable: virshProblem });
    paths.push({ label: 'virsh, one process, batch on stdin', unavailable: virshProblem });
  }

  const native = await openNativeBinding(C_LIBRARY_URI);
  if (native.available) {
    const { hypervisor } = native;
    teardown.defer('close the native binding', () => hypervisor.connectClose());
    const handles: NativeDomain[] = [];
    for (const name of expected.names) handles.push(await hypervisor.domainLookupByName(name));
    paths.push(...nativePaths(hypervisor, handles, expected, CALLS));
  } else {
    paths.push({ label: '@unraid/libvirt, sequential', unavailable: native.reason });
    paths.push({ label: '@unraid/libvirt, pipelined', unavailable: native.reason });
  }
  return { paths, listed: (await client.listAllDomains()).length, prefix: benchDomains.prefix };
}

async function measure(paths: readonly CallPath[]): Promise<Medians> {
  // Warm-up: JIT, socket buffers, virsh in the page cache; it also checks every path gets the right answers.
  for (const path of paths) {
    for (const workload of WORKLOADS) await path.workloads[workload]?.(path.warmUpCalls);
  }
  const samples = new Map(
    paths.map((path) => [path, { getState: [] as CallCost[], listAll: [] as CallCost[] }]),
  );
  // Repetitions go round every path, so a burst of load from elsewhere on the machine hits all of them alike,
  // each round starting at another path so that none always follows the same one.
  for (let repetition = 0; repetition < REPETITIONS; repetition++) {
    for (const workload of WORKLOADS) {
      for (let offset = 0; offset < paths.length; offset++) {
        const path = paths[(repetition + offset) % paths.length]!;
        const calls = path.workloads[workload];
        if (calls === undefined) continue;
        await settle();
        samples.get(path)![workload].push(await costPerCall(path.calls, calls));
      }
    }
  }
  const medianCost = (costs: CallCost[]): CallCost | undefined =>
    costs.length === 0
      ? undefined
      : {
          wallMicros: median(costs.map((cost) => cost.wallMicros)),
          cpuMicros: median(costs.map((cost) => cost.cpuMicros)),
        };
  return new Map(
    [...samples].map(([path, costs]) => [
      path.label,
      { getState: medianCost(costs.getState), listAll: medianCost(costs.listAll) },
    ]),
  );
}

function report(
  paths: readonly (CallPath | UnavailablePath)[],
  medians: Medians,
  context: { listed: number; prefix: string; loadAtStart: number },
): void {
  console.log(`\nlibvirt-calls: ${CALLS} calls per workload and path, median of ${REPETITIONS} repetitions`);
  console.log(
    `get state: the state of ${DOMAIN_COUNT} shut-off domains in turn; list all: all domains, ${context.listed} ` +
      `of them (${DOMAIN_COUNT} defined by this run as ${context.prefix}*)`,
  );
  console.log(
    `libvirt-ts opens ${LIBVIRT_TS_URI} in libvirtd; virsh and @unraid/libvirt open ${C_LIBRARY_URI}: the same ` +
      `daemon and socket (plain ${LIBVIRT_TS_URI} is a private in-process test driver for them)`,
  );
  printTable(
    'µs per call (lower is better): wall clock, and CPU time of the bench process (virsh children not counted)',
    paths.map((path): BenchRow => {
      if (!('workloads' in path))
        return { label: path.label, values: { note: `not available: ${path.unavailable}` } };
      const { getState, listAll } = medians.get(path.label)!;
      const isSpawn = path.label === 'virsh, one process per call';
      return {
        label: path.label,
        values: {
          'get state': getState?.wallMicros ?? '',
          'get state cpu': getState === undefined || isSpawn ? '' : getState.cpuMicros,
          'list all': listAll?.wallMicros ?? '',
          'list all cpu': listAll === undefined || isSpawn ? '' : listAll.cpuMicros,
          timed: `${REPETITIONS}x${path.calls}`,
          note: path.note,
        },
      };
    }),
  );

  const ratio = (slower: string, faster: string, workload: Workload) => {
    const slow = medians.get(slower)?.[workload];
    const fast = medians.get(faster)?.[workload];
    return slow === undefined || fast === undefined ? null : slow.wallMicros / fast.wallMicros;
  };
  const ratios = COMPARISONS.map((comparison) => {
    const workloads = comparison.workloads ?? WORKLOADS;
    const byWorkload = workloads.map((workload) => ratio(comparison.slower, comparison.faster, workload));
    const overall = byWorkload.every((value) => value !== null) ? geometricMean(byWorkload) : null;
    const of = (workload: Workload) =>
      workloads.includes(workload) ? byWorkload[workloads.indexOf(workload)]! : undefined;
    return { ...comparison, workloads, getState: of('getState'), listAll: of('listAll'), overall };
  });
  const shown = (value: number | null | undefined) =>
    value === undefined ? '' : value === null ? 'n/a' : `${formatNumber(value)}x`;
  printTable(
    'ratios of wall time per call (higher is better; overall = geometric mean of the two workloads)',
    ratios.map(({ label, getState, listAll, overall, target }) => {
      return {
        label,
        values: {
          'get state': shown(getState),
          'list all': shown(listAll),
          overall: shown(overall),
          target: target === undefined ? '' : `>= ${target}x`,
          met: target === undefined ? '' : overall === null ? 'n/a' : overall >= target ? 'yes' : 'NO',
        },
      };
    }),
  );
  console.log(
    `\nload average over 1 min: ${context.loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`,
  );

  const rounded = (value: number | null) => (value === null ? null : Math.round(value * 100) / 100);
  const figures: Record<string, number | null> = {};
  for (const { key, overall } of ratios) figures[key] = rounded(overall);
  for (const { key, getState, listAll } of ratios) {
    if (getState !== undefined) figures[`${key}_get_state`] = rounded(getState);
    if (listAll !== undefined) figures[`${key}_list_all`] = rounded(listAll);
  }
  printFigures('libvirt-calls', figures);
}
