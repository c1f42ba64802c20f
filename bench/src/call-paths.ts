import type { Domain, LibvirtClient } from '@multiverse/libvirt-ts';
import type { NativeDomain, NativeHypervisor } from './native-libvirt.js';
import { allAtOnce, oneAfterAnother } from './timing.js';
import type { Virsh } from './virsh.js';

/** The two things the libvirt-calls benchmark asks of every path. */
export type Workload = 'getState' | 'listAll';
export const WORKLOADS: readonly Workload[] = ['getState', 'listAll'];

/** One way of making libvirt calls from Node. */
export interface CallPath {
  readonly label: string;
  readonly note: string;
  /** Calls timed per workload and repetition. */
  readonly calls: number;
  readonly warmUpCalls: number;
  /** Makes `count` calls of the workload, each checked for the right answer. */
  readonly workloads: Partial<Record<Workload, (count: number) => Promise<void>>>;
}

/** A path this machine cannot measure, and why. */
export interface UnavailablePath {
  readonly label: string;
  readonly unavailable: string;
}

/** A call answered something other than what the run set up: someone else changed test:///default meanwhile. */
export class UnexpectedResultError extends Error {
  readonly code = 'BENCH_UNEXPECTED_RESULT';
  constructor(what: string) {
    super(`${what}; another client of test:///default may have changed its state: run the bench again`);
    this.name = 'UnexpectedResultError';
  }
}

/** DomainState.SHUTOFF, what a domain that was defined and never started reports on every path. */
const SHUTOFF = 5;

/** What every path is expected to see: these shut-off domains, and at least them when listing. */
export class ExpectedDomains {
  constructor(readonly names: readonly string[]) {}

  nameAt(index: number): string {
    return this.names[index % this.names.length]!;
  }

  checkShutOff(path: string, name: string, state: number): void {
    if (state !== SHUTOFF)
      throw new UnexpectedResultError(`${path} reported ${name} in state ${state}, not shut off`);
  }

  checkListed(path: string, listed: number): void {
    if (listed < this.names.length) {
      throw new UnexpectedResultError(
        `${path} listed ${listed} domains, fewer than the ${this.names.length} defined`,
      );
    }
  }
}

export function libvirtTsPaths(
  client: LibvirtClient,
  domains: readonly Domain[],
  expected: ExpectedDomains,
  calls: number,
): CallPath[] {
  const getState = async (index: number) => {
    const domain = domains[index % domains.length]!;
    expected.checkShutOff('libvirt-ts', domain.name, (await client.domainGetState(domain)).state);
  };
  const getInfo = async (index: number) => {
    const domain = domains[index % domains.length]!;
    expected.checkShutOff('libvirt-ts', domain.name, (await client.domainGetInfo(domain)).state);
  };
  const listAll = async () => expected.checkListed('libvirt-ts', (await client.listAllDomains()).length);
  return [
    {
      label: 'libvirt-ts, sequential',
      note: 'each call awaited before the next',
      calls,
      warmUpCalls: calls,
      workloads: {
        getState: (count) => oneAfterAnother(count, getState),
        listAll: (count) => oneAfterAnother(count, listAll),
      },
    },
    {
      label: 'libvirt-ts, pipelined',
      note: `${calls} calls in flight at once`,
      calls,
      warmUpCalls: calls,
      workloads: {
        getState: (count) => allAtOnce(count, getState),
        listAll: (count) => allAtOnce(count, listAll),
      },
    },
    {
      label: 'libvirt-ts, sequential, domainGetInfo',
      note: 'the call the native binding uses',
      calls,
      warmUpCalls: calls,
      workloads: { getState: (count) => oneAfterAnother(count, getInfo) },
    },
  ];
}

export function virshPaths(
  virsh: Virsh,
  expected: ExpectedDomains,
  calls: number,
  spawnSample: number,
): CallPath[] {
  const countLines = (output: string, wanted: string) =>
    output.split('\n').filter((line) => line === wanted).length;
  const checkAnswered = (what: string, answered: number, count: number) => {
    if (answered !== count)
      throw new UnexpectedResultError(`virsh answered ${answered} of ${count} ${what} commands`);
  };
  return [
    {
      label: 'virsh, one process per call',
      note: `a sample of ${spawnSample} per repetition`,
      calls: spawnSample,
      warmUpCalls: 5,
      workloads: {
        getState: (count) =>
          oneAfterAnother(count, async (index) => {
            const name = expected.nameAt(index);
            const state = (await virsh.run(['domstate', name])).trim();
            if (state !== 'shut off') throw new UnexpectedResultError(`virsh reported ${name} as ${state}`);
          }),
        listAll: (count) =>
          oneAfterAnother(count, async () =>
            expected.checkListed(
              'virsh',
              (await virsh.run(['list', '--all', '--name'])).trim().split('\n').length,
            ),
          ),
      },
    },
    {
      label: 'virsh, one process, batch on stdin',
      note: 'start-up and connect included',
      calls,
      warmUpCalls: 100,
      workloads: {
        getState: async (count) => {
          const output = await virsh.runBatch(
            Array.from({ length: count }, (_, index) => `domstate ${expected.nameAt(index)}`),
          );
          checkAnswered('domstate', countLines(output, 'shut off'), count);
        },
        listAll: async (count) => {
          const output = await virsh.runBatch(Array<string>(count).fill('list --all --name'));
          checkAnswered('list', countLines(output, expected.nameAt(0)), count);
        },
      },
    },
  ];
}

export function nativePaths(
  hypervisor: NativeHypervisor,
  handles: readonly NativeDomain[],
  expected: ExpectedDomains,
  calls: number,
): CallPath[] {
  const getState = async (index: number) => {
    const at = index % handles.length;
    expected.checkShutOff(
      '@unraid/libvirt',
      expected.nameAt(at),
      (await hypervisor.domainGetInfo(handles[at]!)).state,
    );
  };
  const listAll = async () =>
    expected.checkListed('@unraid/libvirt', (await hypervisor.connectListAllDomains()).length);
  const viaGetInfo = 'domainGetInfo (it has no domainGetState)';
  return [
    {
      label: '@unraid/libvirt, sequential',
      note: viaGetInfo,
      calls,
      warmUpCalls: calls,
      workloads: {
        getState: (count) => oneAfterAnother(count, getState),
        listAll: (count) => oneAfterAnother(count, listAll),
      },
    },
    {
      label: '@unraid/libvirt, pipelined',
      note: `${viaGetInfo}, libuv thread pool`,
      calls,
      warmUpCalls: calls,
      workloads: {
        getState: (count) => allAtOnce(count, getState),
        listAll: (count) => allAtOnce(count, listAll),
      },
    },
  ];
}
