import { writeFile, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DomainXMLFlags } from '@multiverse/libvirt-ts';
import { prepareBenchHostd } from './bench-hostd.js';
import type { BenchHostd } from './bench-hostd.js';
import { BENCH_DISPOSABLE_TEMPLATE } from './bench-templates.js';
import { openWorkspace } from './bench-workspace.js';
import type { BenchWorkspace } from './bench-workspace.js';
import { runCommand, timed } from './command.js';
import { killDisposable, poolSetting } from './disposable-hostd.js';
import type { DisposableRunResult } from './disposable-hostd.js';
import { copyDomainXml, diskSourcesOf } from './domain-xml-copy.js';
import type { DomainDiskSource } from './domain-xml-copy.js';
import { resumeUntilShellAnswers } from './guest-boot.js';
import { printFigures, printTable } from './report.js';
import { describeTarget, roundFigure, showValue, targetMet } from './target-check.js';
import type { Target } from './target-check.js';
import { Teardown } from './teardown.js';
import { median } from './timing.js';
import { Virsh } from './virsh.js';

const RUNS = 7;
const OVERHEAD_TARGET: Target = { atMost: 0.1, unit: '%' };

/** The machine hostd made, as a user without hostd would start it. */
interface BareMachine {
  readonly xml: string;
  readonly disks: readonly (DomainDiskSource & { readonly virtualBytes: number })[];
}

/**
 * From asking for a VM to a guest that reports ready: `mvctl vm run` of a disposable with no preloaded pool (a
 * cold boot through hostd) against `virsh create` of the same domain XML. Prints medians, the overhead against
 * issue 3's target and one JSON line.
 */
export async function runGuestReady(): Promise<void> {
  const teardown = new Teardown();
  try {
    const loadAtStart = loadavg()[0]!;
    const workspace = await openWorkspace(teardown, 'guest-ready');
    const hostd = await prepareBenchHostd(workspace, teardown);
    await hostd.start(poolSetting(0));
    const virsh = new Virsh('qemu:///system', { timeoutMs: 120_000 });
    teardown.defer('stop virsh processes', () => virsh.stopAll());

    console.error(
      'guest-ready: warm-up run (hostd builds the tiny image on first use), reading its domain XML',
    );
    const machine = await bareMachineOf(workspace, hostd);

    const hostdWall: number[] = [];
    const hostdReady: number[] = [];
    const virshReady: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      console.error(`guest-ready: run ${run + 1} of ${RUNS}`);
      // Alternating which goes first, so neither always follows the other's clean-up.
      const order = run % 2 === 0 ? (['hostd', 'virsh'] as const) : (['virsh', 'hostd'] as const);
      for (const path of order) {
        if (path === 'hostd') {
          const { value, seconds } = await hostd.mvctlJson<DisposableRunResult>([
            'vm',
            'run',
            BENCH_DISPOSABLE_TEMPLATE,
          ]);
          if (value.preloaded)
            throw new Error(`${value.name} came from a pool, but the pool is off: not a cold boot`);
          hostdWall.push(seconds);
          hostdReady.push(value.readyAfterSeconds);
          await killDisposable(hostd, value.name);
        } else {
          virshReady.push(await virshCreateUntilReady(workspace, virsh, machine, run));
        }
      }
    }
    report({ hostdWall, hostdReady, virshReady }, loadAtStart);
  } finally {
    await teardown.run().catch((error: unknown) => {
      console.error('guest-ready could not clean up everything it started:', error);
      process.exitCode = 1;
    });
  }
}

/** Runs one disposable through hostd and keeps its definition (and disk sizes) for the bare runs. */
async function bareMachineOf(workspace: BenchWorkspace, hostd: BenchHostd): Promise<BareMachine> {
  const { value: run } = await hostd.mvctlJson<DisposableRunResult>(['vm', 'run', BENCH_DISPOSABLE_TEMPLATE]);
  try {
    const domain = await workspace.client.domainLookupByName(run.name);
    const xml = await workspace.client.domainGetXmlDesc(domain, DomainXMLFlags.INACTIVE);
    const disks = [];
    for (const disk of diskSourcesOf(xml)) {
      const { stdout } = await runCommand('qemu-img', ['info', '-U', '--output=json', disk.file]);
      disks.push({
        ...disk,
        virtualBytes: (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'],
      });
    }
    return { xml, disks };
  } finally {
    await killDisposable(hostd, run.name);
  }
}

/**
 * `virsh create --paused` of the copied XML, then (as hostd does, so the line cannot be missed) the console
 * attached and the guest resumed; returns the seconds from virsh's start to the READY line and a console shell
 * that answers — where `mvctl vm run` hands a disposable over. Its fresh empty disks are made before the clock
 * starts: a user of bare virsh has their disks already.
 */
async function virshCreateUntilReady(
  workspace: BenchWorkspace,
  virsh: Virsh,
  machine: BareMachine,
  run: number,
): Promise<number> {
  const { client, root, tag } = workspace;
  const name = `mvbench-${tag}-bare${run}`;
  const files = new Map<string, string>();
  for (const disk of machine.disks) {
    const file = join(root, `${name}-${disk.target}.qcow2`);
    await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(disk.virtualBytes)]);
    files.set(disk.file, file);
  }
  const xmlFile = join(root, `${name}.xml`);
  await writeFile(xmlFile, copyDomainXml(machine.xml, { name, diskFile: (disk) => files.get(disk.file)! }));
  try {
    const { seconds } = await timed(async () => {
      await virsh.run(['create', '--paused', xmlFile]);
      await resumeUntilShellAnswers(client, await client.domainLookupByName(name));
    });
    return seconds;
  } finally {
    // Transient: destroying it is the whole removal.
    await client
      .domainLookupByName(name)
      .then((domain) => client.domainDestroy(domain))
      .catch(() => undefined);
    for (const file of [...files.values(), xmlFile]) await rm(file, { force: true });
  }
}

function report(
  samples: { hostdWall: number[]; hostdReady: number[]; virshReady: number[] },
  loadAtStart: number,
): void {
  const hostdWall = median(samples.hostdWall);
  const hostdReady = median(samples.hostdReady);
  const virshReady = median(samples.virshReady);
  console.log(
    `\nguest-ready: a cold tiny disposable (TCG, no preloaded pool), from the request to its READY line and a console shell that answers (what vm run waits for); ` +
      `median of ${RUNS} runs each, alternating`,
  );
  printTable('seconds (lower is better)', [
    {
      label: 'mvctl vm run (wall time of the mvctl call)',
      values: { median: hostdWall, min: Math.min(...samples.hostdWall), max: Math.max(...samples.hostdWall) },
    },
    {
      label: 'hostd readyAfterSeconds (inside hostd)',
      values: {
        median: hostdReady,
        min: Math.min(...samples.hostdReady),
        max: Math.max(...samples.hostdReady),
      },
    },
    {
      label: 'virsh create --paused + console + resume + shell answers',
      values: {
        median: virshReady,
        min: Math.min(...samples.virshReady),
        max: Math.max(...samples.virshReady),
      },
    },
  ]);
  console.log(
    '\nmvctl vm run includes starting mvctl (node), hostd making the disposable (disks, definition) and its ' +
      'task; the virsh path is virsh create of the same domain XML (renamed, new UUID, no Multiverse metadata, ' +
      'fresh empty disks made before the clock starts), the console attached and the guest resumed through ' +
      'libvirt-ts.',
  );
  const overhead = hostdWall / virshReady - 1;
  const insideOverhead = hostdReady / virshReady - 1;
  printTable('overhead of hostd over bare virsh create', [
    {
      label: 'mvctl vm run vs virsh create',
      values: {
        overhead: showValue(overhead, '%'),
        target: describeTarget(OVERHEAD_TARGET),
        met: targetMet(overhead, OVERHEAD_TARGET),
      },
    },
    {
      label: 'hostd readyAfterSeconds vs virsh create',
      values: { overhead: showValue(insideOverhead, '%') },
    },
  ]);
  console.log(
    `\nload average over 1 min: ${loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`,
  );
  printFigures('guest-ready', {
    overhead_vs_virsh_create: roundFigure(overhead, 3),
    overhead_inside_hostd_vs_virsh_create: roundFigure(insideOverhead, 3),
    mvctl_vm_run_s: roundFigure(hostdWall),
    hostd_ready_after_s: roundFigure(hostdReady),
    virsh_create_ready_s: roundFigure(virshReady),
  });
}
