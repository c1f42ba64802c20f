import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { Domain } from '@multiverse/libvirt-ts';
import { element, renderXml, vmMetadataElement } from '@multiverse/vm-templates';
import { loadOrCreateHostId } from '../host-id.js';
import { AuditLog } from '../audit/index.js';
import { openStateDatabase } from '../state/index.js';
import { TaskManager } from '../tasks/index.js';
import type { TaskRecord } from '../tasks/index.js';
import type { AuditEntry, AuditVerification } from '../audit/index.js';
import type { HostInfo, VmSummary } from '../service/index.js';

const hostdScript = new URL('../main.js', import.meta.url).pathname;
const mvctlScript = new URL('./mvctl.js', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('mvctl against a real hostd process', () => {
  let root: string;
  let stateDir: string;
  let runDir: string;
  let hostd: ChildProcess | undefined;
  let hostdLog = '';
  let client: LibvirtClient;
  let domain: Domain | undefined;
  let leftoverTaskId: string;
  const vmName = `mv-cli-${randomBytes(4).toString('hex')}`;

  function mvctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [mvctlScript, ...args],
        { env: { ...process.env, MULTIVERSE_RUN_DIR: runDir, ...env } },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  async function mvctlJson<T>(args: string[]): Promise<T> {
    const run = await mvctl([...args, '--json']);
    assert.equal(run.code, 0, `mvctl ${args.join(' ')}: ${run.stderr}`);
    return JSON.parse(run.stdout) as T;
  }

  async function startHostd(): Promise<ChildProcess> {
    const child = spawn(process.execPath, [hostdScript], {
      env: {
        ...process.env,
        MULTIVERSE_STATE_DIR: stateDir,
        MULTIVERSE_RUN_DIR: runDir,
        MULTIVERSE_ACCELERATOR: 'tcg',
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_JAIL_LISTEN: 'off',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => (hostdLog += chunk.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      assert.equal(child.exitCode, null, `hostd exited at start:\n${hostdLog}`);
      const run = await mvctl(['host', 'info', '--json']);
      if (run.code === 0 && (JSON.parse(run.stdout) as HostInfo).libvirt.connected) return child;
      assert.ok(Date.now() < deadline, `hostd did not answer in time:\n${hostdLog}`);
      await sleep(100);
    }
  }

  async function stopHostd(): Promise<void> {
    const child = hostd;
    hostd = undefined;
    if (child === undefined || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, hostdLog);
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-mvctl-'));
    stateDir = join(root, 'state');
    runDir = join(root, 'run');
    // A task a previous hostd was running when it died: its row still says `running`.
    await mkdir(stateDir, { recursive: true });
    const state = openStateDatabase(stateDir);
    const tasks = new TaskManager(state.db, new AuditLog(state.db));
    const started = tasks.start(
      { kind: 'vm.create', target: 'work', requestedBy: { user: 'alice', role: 'owner', via: 'cli' } },
      () => new Promise(() => {}),
    );
    leftoverTaskId = started.task.id;
    await sleep(20);
    state.close();

    client = await LibvirtClient.connect('qemu:///system');
    // The VM is this hostd's: its metadata names the host id the hostd will find in its state directory.
    const hostId = await loadOrCreateHostId(stateDir);
    const metadata = vmMetadataElement({
      host: hostId,
      role: 'router',
      template: 'router-tor',
      image: { name: 'tiny', sha256: 'b'.repeat(64) },
      router: null,
      pinning: 'dedicated',
      ephemeral: false,
      checkpoints: [],
    });
    domain = await client.domainDefineXml(
      renderXml(
        element(
          'domain',
          { type: 'qemu' },
          element('name', {}, vmName),
          element('memory', { unit: 'KiB' }, '131072'),
          element('vcpu', {}, '2'),
          element('os', {}, element('type', { arch: 'x86_64' }, 'hvm')),
          element('metadata', {}, metadata),
        ),
      ),
    );
    hostd = await startHostd();
  });

  after(async () => {
    if (hostd !== undefined && hostd.exitCode === null) hostd.kill('SIGKILL');
    if (domain !== undefined) await client.domainUndefine(domain).catch(() => undefined);
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('host info: versions, the TCG decision and its reason, CPUs and memory; --json parses', async () => {
    const info = await mvctlJson<HostInfo>(['host', 'info']);
    assert.equal(info.accelerator?.accelerator, 'tcg');
    assert.equal(info.hostd.pid, hostd?.pid);
    assert.match(info.libvirt.libvirtVersion ?? '', /^\d+\.\d+\.\d+$/);
    assert.ok((info.node?.cpus ?? 0) >= 1 && (info.node?.memoryBytes ?? 0) > 0);
    const human = await mvctl(['host', 'info']);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^accelerator +TCG: forced by MULTIVERSE_ACCELERATOR=tcg$/m);
    assert.match(human.stdout, /^QEMU +\d+\.\d+\.\d+$/m);
  });

  it('vm list: libvirt’s domains with state, role and template from the metadata', async () => {
    const { vms } = await mvctlJson<{ vms: VmSummary[] }>(['vm', 'list']);
    const vm = vms.find((candidate) => candidate.name === vmName);
    assert.deepEqual(
      [vm?.state, vm?.role, vm?.template, vm?.vcpus, vm?.memoryBytes],
      ['shutoff', 'router', 'router-tor', 2, 128 * 1024 * 1024],
    );
    const human = await mvctl(['vm', 'list']);
    assert.match(human.stdout, /^NAME +STATE +ROLE +TEMPLATE +VCPUS +MEMORY$/m);
    assert.match(human.stdout, new RegExp(`^${vmName} +shutoff +router +router-tor +2 +128 MiB$`, 'm'));
  });

  it('task list/show/cancel: a task cut off by a dead hostd shows as failed, with the reason', async () => {
    const { tasks } = await mvctlJson<{ tasks: TaskRecord[] }>(['task', 'list']);
    const leftover = tasks.find((task) => task.id === leftoverTaskId);
    assert.equal(leftover?.state, 'failed');
    assert.deepEqual(leftover?.error, { code: 'HOSTD_STOPPED', message: 'hostd stopped while it ran' });
    const shown = await mvctl(['task', 'show', leftoverTaskId]);
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, /^error +HOSTD_STOPPED: hostd stopped while it ran$/m);
    const cancel = await mvctl(['task', 'cancel', leftoverTaskId]);
    assert.equal(cancel.code, 1);
    assert.match(cancel.stderr, /TASK_FINISHED/);
    const missing = await mvctl(['task', 'show', '0123456789abcdef', '--json']);
    assert.equal(missing.code, 1);
    assert.equal((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, 'TASK_NOT_FOUND');
    const filtered = await mvctlJson<{ tasks: TaskRecord[] }>(['task', 'list', '--state', 'running']);
    assert.deepEqual(filtered.tasks, []);
  });

  it('exits 2 on usage errors, locally or when hostd refuses the input', async () => {
    const cases: [string[], RegExp][] = [
      [[], /usage: mvctl GROUP COMMAND/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['vm', 'frobnicate'], /"vm" has no command "frobnicate"/],
      [['vm', 'list', '--bogus'], /unknown option --bogus/],
      [['vm', 'list', 'extra'], /unexpected argument "extra"/],
      [['task', 'show'], /missing the task ID/],
      [['task', 'show', 'nope'], /"nope" is not a task ID/],
      [['task', 'list', '--limit', 'many'], /--limit takes a positive whole number/],
      [['task', 'list', '--state', 'sleeping'], /INPUT_INVALID: invalid input for task.list: state:/],
      [['audit', 'list', '--limit', '5000'], /INPUT_INVALID/],
      [['audit', 'verify', '--anchor', '3:xyz'], /--anchor takes SEQ:HASH/],
    ];
    for (const [args, message] of cases) {
      const run = await mvctl(args);
      assert.equal(run.code, 2, `mvctl ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });

  it('--help per command, on stdout, exit 0', async () => {
    const help = await mvctl(['audit', 'verify', '--help']);
    assert.equal(help.code, 0);
    assert.match(
      help.stdout,
      /^usage: mvctl audit verify \[--anchor SEQ:HASH\] \[--json\] \[--socket PATH\]$/m,
    );
    assert.match(help.stdout, /3 +hostd is not reachable/);
    const group = await mvctl(['task', '--help']);
    assert.equal(group.code, 0);
    assert.match(group.stdout, /mvctl task cancel +ask a queued or running task to stop/);
  });

  it('audits every call with who and how, and the chain verifies; an anchor proves it later', async () => {
    const { entries } = await mvctlJson<{ entries: AuditEntry[] }>(['audit', 'list', '--limit', '1000']);
    const hostInfo = entries.find((entry) => entry.action === 'host.info');
    assert.deepEqual([hostInfo?.actor.role, hostInfo?.actor.via, hostInfo?.result], ['owner', 'cli', 'ok']);
    const refused = entries.find((entry) => entry.action === 'task.list' && entry.result === 'failed');
    assert.equal((refused?.details as { error: { code: string } }).error.code, 'INPUT_INVALID');
    assert.ok(entries.some((entry) => entry.action === 'task.finish' && entry.actor.user === 'hostd'));
    const verification = await mvctlJson<AuditVerification>(['audit', 'verify']);
    assert.ok(verification.ok && verification.head !== null);
    const anchor = `${verification.head.seq}:${verification.head.hash}`;
    const human = await mvctl(['audit', 'verify', '--anchor', anchor]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^audit log intact: \d+ row\(s\)$/m);
  });

  it('keeps the socket 0660 group root and the database 0600; a second hostd is refused', async () => {
    const socket = await stat(join(runDir, 'hostd.sock'));
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o660);
    assert.equal(socket.gid, 0);
    assert.equal((await stat(join(stateDir, 'hostd.sqlite'))).mode & 0o777, 0o600);
    const second = spawn(process.execPath, [hostdScript], {
      env: {
        ...process.env,
        MULTIVERSE_STATE_DIR: stateDir,
        MULTIVERSE_RUN_DIR: runDir,
        MULTIVERSE_ACCELERATOR: 'tcg',
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_JAIL_LISTEN: 'off',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    second.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const [code] = (await once(second, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(log, /API_SOCKET_IN_USE/);
    assert.equal((await mvctl(['host', 'info'])).code, 0, 'the first hostd still answers');
  });

  it('prints a bash completion script that completes groups, commands, options and option values', async () => {
    const script = await mvctl(['completion', 'bash']);
    assert.equal(script.code, 0);
    const complete = async (words: string[]): Promise<string> => {
      const program = `${script.stdout}
COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _mvctl; echo "\${COMPREPLY[*]}"`;
      const { stdout } = await promisify(execFile)('bash', ['-c', program]);
      return stdout.trim();
    };
    assert.equal(await complete(['mvctl', 'ta']), 'task');
    assert.equal(await complete(['mvctl', 'task', '']), 'list show cancel');
    assert.equal(await complete(['mvctl', 'task', 'list', '--st']), '--state');
    assert.equal(
      await complete(['mvctl', 'task', 'list', '--state', '']),
      'queued running succeeded failed cancelled',
    );
    assert.equal(await complete(['mvctl', 'audit', 'verify', '--']), '--anchor --json --socket --help');
  });

  it('exits 3 with a clear message when hostd is down; verify names a row tampered with meanwhile', async () => {
    const before = await mvctlJson<AuditVerification>(['audit', 'verify']);
    assert.ok(before.ok && before.head !== null);
    await stopHostd();
    await assert.rejects(access(join(runDir, 'hostd.sock')), 'hostd removed its socket');
    const down = await mvctl(['host', 'info']);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /hostd is not running .*\nstart it with scripts\/up\.sh/);
    const downJson = await mvctl(['vm', 'list', '--json']);
    assert.equal(downJson.code, 3);
    assert.equal(
      (JSON.parse(downJson.stdout) as { error: { code: string } }).error.code,
      'HOSTD_NOT_RUNNING',
    );

    // Someone with write access to the file edits row 2 while hostd is down.
    const attacker = new BetterSqlite3(join(stateDir, 'hostd.sqlite'));
    attacker.exec('DROP TRIGGER audit_log_refuse_update');
    attacker.prepare(`UPDATE audit_log SET actor_user = 'mallory' WHERE seq = 2`).run();
    attacker.close();

    hostd = await startHostd();
    const broken = await mvctl(['audit', 'verify']);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /^audit log BROKEN at row 2 \(row-altered\)/m);
    const json = await mvctl([
      'audit',
      'verify',
      '--json',
      '--anchor',
      `${before.head.seq}:${before.head.hash}`,
    ]);
    assert.equal(json.code, 1);
    assert.deepEqual((JSON.parse(json.stdout) as AuditVerification & { ok: false }).firstBad.seq, 2);
    await stopHostd();
  });
});
