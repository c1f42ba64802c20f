import { TASK_ID_PATTERN, TASK_STATES } from '../tasks/task-record.js';
import type { VerbName, VerbOutput } from '../service/index.js';
import { renderCpuPlan } from '../cpu-plan/render-plan.js';
import { bashCompletionScript } from './completion.js';
import type { CommandInputContext } from './command-input.js';
import type { OptionSpec } from './command-options.js';
import { EXIT_CODES } from './exit-codes.js';
import type { ExitCode } from './exit-codes.js';
import { formatBytesApproximately, formatTime } from './human-units.js';
import { formatFields, formatTable } from './table.js';
import { UsageError } from './usage-error.js';
import { IMAGE_COMMANDS } from './image-commands.js';
import { VAULT_COMMANDS } from './vault-commands.js';
import { USER_COMMANDS } from './user-commands.js';
import { ONION_COMMANDS } from './onion-commands.js';

export interface ArgumentSpec {
  readonly name: string;
  readonly description: string;
}

export type { OptionSpec };

export type ParsedValues = Readonly<Record<string, string | boolean | undefined>>;

interface CommandBase {
  readonly group: string;
  readonly name: string;
  readonly summary: string;
  readonly arguments: readonly ArgumentSpec[];
  readonly options: readonly OptionSpec[];
}

/** A command that calls one hostd verb. */
export interface RemoteCommand<Name extends VerbName = VerbName> extends CommandBase {
  readonly kind: 'remote';
  readonly verb: Name;
  /** May read local files first (`vault unseal SHARE-FILE`), or ask (`context`): then it returns a promise. */
  input(
    positionals: readonly string[],
    values: ParsedValues,
    context: CommandInputContext,
  ): Record<string, unknown> | Promise<Record<string, unknown>>;
  /**
   * Local work once hostd has answered, before anything is printed (`vault init` writes the share files):
   * what it returns is what `render` and `--json` show in place of hostd's result.
   */
  receive?(result: VerbOutput<Name>, values: ParsedValues): Promise<unknown>;
  render(result: VerbOutput<Name>): string;
  /** Exit code for a result hostd returned; `ok` unless the result itself reports a problem. */
  exitCode?(result: VerbOutput<Name>): ExitCode;
  /** A stream verb: mvctl joins the stream to the terminal instead of printing a result. */
  readonly stream?: true;
  /**
   * For verbs that start a task: the task to wait for. mvctl then follows it to its end (unless
   * `--no-wait`), shows the final task, and exits 1 unless it succeeded.
   */
  followTask?(result: VerbOutput<Name>): string;
}

/** A command mvctl answers alone. */
export interface LocalCommand extends CommandBase {
  readonly kind: 'local';
  /** `table` is every command mvctl has (the completion script is made from it). */
  run(positionals: readonly string[], values: ParsedValues, table: readonly Command[]): string;
}

export type Command = RemoteCommand | LocalCommand;

function remote<Name extends VerbName>(command: Omit<RemoteCommand<Name>, 'kind'>): RemoteCommand {
  return { kind: 'remote', ...command } as unknown as RemoteCommand;
}

function positiveInteger(
  text: string | boolean | undefined,
  option: string,
  command: string,
): number | undefined {
  if (text === undefined || typeof text === 'boolean') return undefined;
  if (!/^[1-9]\d{0,8}$/.test(text))
    throw new UsageError(`--${option} takes a positive whole number, not "${text}"`, command);
  return Number(text);
}

function taskIdArgument(positionals: readonly string[], command: string): { id: string } {
  const [id, ...extra] = positionals;
  if (id === undefined) throw new UsageError('missing the task ID', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  if (!TASK_ID_PATTERN.test(id))
    throw new UsageError(`"${id}" is not a task ID (16 lowercase hex digits)`, command);
  return { id };
}

function vmNameArgument(positionals: readonly string[], command: string): { name: string } {
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('missing the VM NAME', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  return { name };
}

const VM_NAME_ARGUMENT: ArgumentSpec = { name: 'NAME', description: 'the VM’s name (from `mvctl vm list`)' };
const CHECKPOINT_ID_ARGUMENT: ArgumentSpec = {
  name: 'ID',
  description: 'the checkpoint’s id (from `mvctl vm checkpoints NAME`)',
};

function vmAndCheckpointArguments(
  positionals: readonly string[],
  command: string,
): { name: string; id: string } {
  const [name, id, ...extra] = positionals;
  if (name === undefined) throw new UsageError('missing the VM NAME', command);
  if (id === undefined) throw new UsageError('missing the checkpoint ID', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  if (!/^[0-9a-f]{16}$/.test(id))
    throw new UsageError(`"${id}" is not a checkpoint ID (16 lowercase hex digits)`, command);
  return { name, id };
}

function noArguments(positionals: readonly string[], command: string): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, command);
}

export function taskFields(task: VerbOutput<'task.show'>['task']): string {
  return formatFields([
    ['id', task.id],
    ['kind', task.kind],
    ['target', task.target],
    ['state', task.state],
    ['progress', `${Math.round(task.progress.fraction * 100)}% ${task.progress.message}`],
    ['requested by', `${task.requestedBy.user} (${task.requestedBy.role}, via ${task.requestedBy.via})`],
    ['created', formatTime(task.createdAt)],
    ['started', formatTime(task.startedAt)],
    ['finished', formatTime(task.finishedAt)],
    ...(task.cancelRequestedAt === null
      ? []
      : [['cancel requested', formatTime(task.cancelRequestedAt)] as const]),
    ...(task.error === null ? [] : [['error', `${task.error.code}: ${task.error.message}`] as const]),
    ...(task.result === null ? [] : [['result', JSON.stringify(task.result)] as const]),
  ]);
}

export const COMMANDS: readonly Command[] = [
  remote({
    group: 'host',
    name: 'info',
    verb: 'host.info',
    summary: 'hostd, libvirt and QEMU versions, KVM or TCG and why, CPUs and memory',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'host info');
      return {};
    },
    render(info) {
      const node = info.node;
      return formatFields([
        ['hostname', info.hostname ?? '-'],
        ['hostd', `pid ${info.hostd.pid}, running since ${formatTime(info.hostd.startedAt)}`],
        [
          'libvirt',
          `${info.libvirt.libvirtVersion ?? '?'} (${info.libvirt.uri}, ${info.libvirt.connected ? 'connected' : 'NOT connected: hostd is reconnecting'})`,
        ],
        ['QEMU', info.libvirt.hypervisorVersion ?? '?'],
        [
          'accelerator',
          info.accelerator === null
            ? 'not decided yet (probing KVM)'
            : `${info.accelerator.accelerator.toUpperCase()}: ${info.accelerator.reason}`,
        ],
        [
          'CPUs',
          node === null
            ? '-'
            : `${node.cpus} (${node.cpuModel}, ${node.mhz} MHz; ${node.sockets} socket(s) × ${node.coresPerSocket} core(s) × ${node.threadsPerCore} thread(s), ${node.numaNodes} NUMA node(s))`,
        ],
        ['memory', node === null ? '-' : formatBytesApproximately(node.memoryBytes)],
      ]);
    },
  }),
  remote({
    group: 'host',
    name: 'cpus',
    verb: 'host.cpus',
    summary: 'the CPU plan: host CPUs per VM (dedicated or shared pool), reserved CPUs, memory, warnings',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'host cpus');
      return {};
    },
    render(plan) {
      return renderCpuPlan(plan).text;
    },
  }),
  remote({
    group: 'vm',
    name: 'list',
    verb: 'vm.list',
    summary: 'every VM libvirt knows: state, and role and template for Multiverse VMs',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'vm list');
      return {};
    },
    render({ vms }) {
      if (vms.length === 0) return 'no VMs\n';
      const table = formatTable(
        ['NAME', 'STATE', 'ROLE', 'TEMPLATE', 'VCPUS', 'MEMORY'],
        vms.map((vm) => [
          vm.name,
          vm.state,
          vm.metadataProblem !== null
            ? 'invalid!'
            : vm.role === null
              ? '-'
              : vm.managed
                ? vm.role
                : `${vm.role} (other hostd)`,
          vm.template ?? '-',
          String(vm.vcpus),
          formatBytesApproximately(vm.memoryBytes),
        ]),
      );
      const problems = vms
        .filter((vm) => vm.metadataProblem !== null)
        .map(
          (vm) =>
            `\n${vm.name}: Multiverse metadata is invalid:\n  ${vm.metadataProblem?.split('\n').join('\n  ')}\n`,
        );
      const foreign = vms.some((vm) => vm.role === null && vm.metadataProblem === null)
        ? '\nrole "-": a domain defined outside Multiverse\n'
        : '';
      return table + problems.join('') + foreign;
    },
  }),
  remote({
    group: 'vm',
    name: 'create',
    verb: 'vm.create',
    summary: 'define a VM from a template; it stays shut off until `vm start`',
    arguments: [
      {
        name: 'NAME',
        description: 'the new VM’s name (1-32 of a-z 0-9 -, starting with a letter; also its hostname)',
      },
    ],
    options: [
      {
        name: 'template',
        type: 'string',
        value: 'T',
        description: 'the template to make it from (e.g. fallback)',
      },
      {
        name: 'encrypted',
        type: 'boolean',
        description:
          'LUKS-encrypt its volumes with a key kept in the vault (needs it unsealed); the template may ask for it too',
      },
    ],
    input(positionals, values) {
      const { name } = vmNameArgument(positionals, 'vm create');
      const template = values['template'];
      if (typeof template !== 'string') throw new UsageError('missing --template T', 'vm create');
      return values['encrypted'] === true ? { name, template, encrypted: true } : { name, template };
    },
    render: (vm) =>
      `VM ${vm.name} created from template ${vm.template} (role ${vm.role}, image ${vm.image}${vm.encrypted ? ', volumes encrypted' : ''})\n`,
  }),
  remote({
    group: 'vm',
    name: 'start',
    verb: 'vm.start',
    summary: 'start a VM and wait until its guest reports ready',
    arguments: [VM_NAME_ARGUMENT],
    options: [
      {
        name: 'no-wait',
        type: 'boolean',
        description: 'return once the start task is recorded (follow it with `mvctl task show ID`)',
      },
    ],
    input: (positionals) => vmNameArgument(positionals, 'vm start'),
    render: ({ task }) =>
      `starting VM ${task.target} as task ${task.id} (${task.state}); \`mvctl task show ${task.id}\` follows it\n`,
    followTask: ({ task }) => task.id,
  }),
  remote({
    group: 'vm',
    name: 'stop',
    verb: 'vm.stop',
    summary: 'ask a running VM to power off; cut it off if it has not within the timeout',
    arguments: [VM_NAME_ARGUMENT],
    options: [
      {
        name: 'timeout',
        type: 'string',
        value: 'SECONDS',
        description: 'how long the guest gets to power off before it is cut off (default 30; 0: at once)',
      },
    ],
    input(positionals, values) {
      const { name } = vmNameArgument(positionals, 'vm stop');
      const timeout = values['timeout'];
      if (timeout === undefined || typeof timeout === 'boolean') return { name };
      if (!/^\d{1,4}$/.test(timeout))
        throw new UsageError(`--timeout takes a whole number of seconds, not "${timeout}"`, 'vm stop');
      return { name, timeoutSeconds: Number(timeout) };
    },
    render: ({ name, forced }) =>
      forced ? `VM ${name} did not power off in time and was cut off\n` : `VM ${name} powered off\n`,
  }),
  remote({
    group: 'vm',
    name: 'run',
    verb: 'vm.run',
    summary: 'start a disposable VM (deleted when it stops); with `-- COMMAND`, run it there and stop the VM',
    arguments: [
      { name: 'TEMPLATE', description: 'a disposable template, such as disposable' },
      {
        name: '-- COMMAND…',
        description: 'what to run in the VM; its output is printed, then the VM is gone',
      },
    ],
    options: [
      {
        name: 'timeout',
        type: 'string',
        value: 'SECONDS',
        description: 'how long the command may run (default 300)',
      },
    ],
    input(positionals, values) {
      const [template, ...command] = positionals;
      if (template === undefined) throw new UsageError('missing the TEMPLATE', 'vm run');
      return {
        template,
        ...(command.length === 0 ? {} : { command }),
        timeoutSeconds: positiveInteger(values['timeout'], 'timeout', 'vm run'),
      };
    },
    render(run) {
      const how = `${run.preloaded ? 'preloaded, resumed' : 'booted'} and ready in ${run.readyAfterSeconds} s`;
      if (run.command === null)
        return `disposable VM ${run.name} (${run.template}) ${how}; it is deleted when it stops\n`;
      return run.command.output + (run.command.truncated ? '[output cut at 1 MiB]\n' : '');
    },
    exitCode: (run) =>
      run.command === null || run.command.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.failed,
  }),
  remote({
    group: 'vm',
    name: 'console',
    verb: 'vm.console',
    summary: 'attach a running VM’s serial console; Ctrl-] detaches',
    arguments: [VM_NAME_ARGUMENT],
    options: [{ name: 'force', type: 'boolean', description: 'take the console over from whoever holds it' }],
    stream: true,
    input(positionals, values) {
      return {
        ...vmNameArgument(positionals, 'vm console'),
        ...(values['force'] === true ? { force: true } : {}),
      };
    },
    render: () => '',
  }),
  remote({
    group: 'vm',
    name: 'kill',
    verb: 'vm.kill',
    summary: 'cut a running VM off at once (like pulling the plug)',
    arguments: [VM_NAME_ARGUMENT],
    options: [],
    input: (positionals) => vmNameArgument(positionals, 'vm kill'),
    render: ({ name }) => `VM ${name} stopped\n`,
  }),
  remote({
    group: 'vm',
    name: 'info',
    verb: 'vm.info',
    summary: 'one VM in full: state, template, image, disks, networks, CPU pinning, checkpoints',
    arguments: [VM_NAME_ARGUMENT],
    options: [],
    input: (positionals) => vmNameArgument(positionals, 'vm info'),
    render: (vm) =>
      formatFields([
        ['name', vm.name],
        ['uuid', vm.uuid],
        ['state', `${vm.state} (${vm.stateReason})`],
        ['role', vm.disposable ? `${vm.role} (deleted when it stops)` : vm.role],
        ['template', vm.template],
        ['description', vm.description || '-'],
        ['image', vm.image],
        ['router', vm.router ?? 'none (offline)'],
        ['vCPUs', String(vm.vcpus)],
        ['memory', formatBytesApproximately(vm.memoryBytes)],
        [
          'CPU pinning',
          vm.pinning.cpus === null
            ? `${vm.pinning.class} (shared pool)`
            : `${vm.pinning.class}: ${vm.pinning.cpus.vcpus.map((cpus, vcpu) => `vCPU ${vcpu} → ${cpus.join(',')}`).join('; ')}; emulator → ${vm.pinning.cpus.emulator.join(',')}`,
        ],
        [
          'networks',
          vm.interfaces.length === 0
            ? 'none'
            : vm.interfaces.map((entry) => `${entry.network} (${entry.mac})`).join(', '),
        ],
        ...(vm.onionLink === null
          ? []
          : ([
              [
                'onion link',
                `${vm.onionLink.interfaceName} ${vm.onionLink.state}: guest ${vm.onionLink.peerAddress}, host ${vm.onionLink.hostAddress} (tor TransPort ${vm.onionLink.transPort ?? '-'}, DNSPort ${vm.onionLink.dnsPort ?? '-'})`,
              ],
              [
                'dropped',
                Object.entries(vm.onionLink.dropped)
                  .map(([reason, count]) => `${reason} ${count.packets}`)
                  .join(', '),
              ],
            ] as [string, string][])),
        ['root', vm.disks.root ?? '-'],
        ['private', vm.disks.private ?? '-'],
        ['volatile', vm.disks.volatile ?? '-'],
        ['checkpoints', String(vm.checkpoints)],
        ['encrypted', vm.encrypted ? 'yes: LUKS volumes, key in the vault' : 'no'],
      ]),
  }),
  remote({
    group: 'vm',
    name: 'delete',
    verb: 'vm.delete',
    summary: 'remove a stopped VM',
    arguments: [VM_NAME_ARGUMENT],
    options: [],
    input: (positionals) => vmNameArgument(positionals, 'vm delete'),
    render: ({ name }) => `VM ${name} deleted\n`,
  }),
  remote({
    group: 'vm',
    name: 'checkpoint',
    verb: 'vm.checkpoint',
    summary:
      'freeze a VM’s private volume as a checkpoint (O(1), live if it runs); it goes on in a new layer',
    arguments: [VM_NAME_ARGUMENT],
    options: [
      {
        name: 'message',
        short: 'm',
        type: 'string',
        value: 'MSG',
        description: 'what the checkpoint holds (one line)',
      },
      { name: 'pin', type: 'boolean', description: 'never prune this checkpoint' },
      {
        name: 'keep',
        type: 'string',
        value: 'N',
        description: 'keep at most N unpinned checkpoints, merging the oldest away (stopped VMs)',
      },
    ],
    input(positionals, values) {
      const { name } = vmNameArgument(positionals, 'vm checkpoint');
      const message = values['message'];
      return {
        name,
        ...(typeof message === 'string' ? { message } : {}),
        ...(values['pin'] === true ? { pinned: true } : {}),
        keep: positiveInteger(values['keep'], 'keep', 'vm checkpoint'),
      };
    },
    render: ({ task }) =>
      `checkpointing VM ${task.target} as task ${task.id} (${task.state}); \`mvctl task show ${task.id}\` follows it\n`,
    followTask: ({ task }) => task.id,
  }),
  remote({
    group: 'vm',
    name: 'checkpoints',
    verb: 'vm.checkpoints',
    summary: 'a VM’s checkpoints, oldest first: id, time, size, pinned, message',
    arguments: [VM_NAME_ARGUMENT],
    options: [],
    input: (positionals) => vmNameArgument(positionals, 'vm checkpoints'),
    render({ name, checkpoints }) {
      if (checkpoints.length === 0) return `VM ${name} has no checkpoints\n`;
      return formatTable(
        ['ID', 'CREATED', 'SIZE', 'PINNED', 'MESSAGE'],
        checkpoints.map((checkpoint) => [
          checkpoint.id,
          formatTime(checkpoint.createdAt),
          formatBytesApproximately(checkpoint.sizeBytes),
          checkpoint.pinned ? 'yes' : 'no',
          checkpoint.message === '' ? '-' : checkpoint.message,
        ]),
      );
    },
  }),
  remote({
    group: 'vm',
    name: 'revert',
    verb: 'vm.revert',
    summary:
      'return a VM’s private volume to a checkpoint, dropping the layers above it (a running VM restarts)',
    arguments: [VM_NAME_ARGUMENT, CHECKPOINT_ID_ARGUMENT],
    options: [],
    input: (positionals) => vmAndCheckpointArguments(positionals, 'vm revert'),
    render: ({ task }) =>
      `reverting VM ${task.target} as task ${task.id} (${task.state}); \`mvctl task show ${task.id}\` follows it\n`,
    followTask: ({ task }) => task.id,
  }),
  remote({
    group: 'vm',
    name: 'checkpoint-delete',
    verb: 'vm.checkpoint-delete',
    summary: 'merge a stopped VM’s checkpoint away; the others read exactly as before',
    arguments: [VM_NAME_ARGUMENT, CHECKPOINT_ID_ARGUMENT],
    options: [],
    input: (positionals) => vmAndCheckpointArguments(positionals, 'vm checkpoint-delete'),
    render: ({ task }) =>
      `deleting a checkpoint of VM ${task.target} as task ${task.id} (${task.state}); \`mvctl task show ${task.id}\` follows it\n`,
    followTask: ({ task }) => task.id,
  }),
  remote({
    group: 'vm',
    name: 'checkpoint-pin',
    verb: 'vm.checkpoint-pin',
    summary: 'pin a checkpoint so pruning (--keep) never merges it away; --unpin undoes it',
    arguments: [VM_NAME_ARGUMENT, CHECKPOINT_ID_ARGUMENT],
    options: [{ name: 'unpin', type: 'boolean', description: 'unpin instead' }],
    input: (positionals, values) => ({
      ...vmAndCheckpointArguments(positionals, 'vm checkpoint-pin'),
      pinned: values['unpin'] !== true,
    }),
    render: ({ name, id, pinned }) => `checkpoint ${id} of VM ${name} is ${pinned ? 'pinned' : 'unpinned'}\n`,
  }),
  remote({
    group: 'task',
    name: 'list',
    verb: 'task.list',
    summary: 'recent tasks, newest first',
    arguments: [],
    options: [
      {
        name: 'state',
        type: 'string',
        value: 'STATE',
        description: `only tasks in this state (${TASK_STATES.join(', ')})`,
        choices: TASK_STATES,
      },
      { name: 'limit', type: 'string', value: 'N', description: 'at most N tasks (default 50, at most 500)' },
    ],
    input(positionals, values) {
      noArguments(positionals, 'task list');
      return { state: values['state'], limit: positiveInteger(values['limit'], 'limit', 'task list') };
    },
    render({ tasks }) {
      if (tasks.length === 0) return 'no tasks\n';
      return formatTable(
        ['ID', 'KIND', 'TARGET', 'STATE', 'PROGRESS', 'CREATED', 'BY'],
        tasks.map((task) => [
          task.id,
          task.kind,
          task.target,
          task.error === null ? task.state : `${task.state} (${task.error.code})`,
          `${Math.round(task.progress.fraction * 100)}%`,
          formatTime(task.createdAt),
          task.requestedBy.user,
        ]),
      );
    },
  }),
  remote({
    group: 'task',
    name: 'show',
    verb: 'task.show',
    summary: 'one task: state, progress, times, error or result',
    arguments: [{ name: 'ID', description: 'the task’s id (from `mvctl task list`)' }],
    options: [],
    input: (positionals) => taskIdArgument(positionals, 'task show'),
    render: ({ task }) => taskFields(task),
  }),
  remote({
    group: 'task',
    name: 'cancel',
    verb: 'task.cancel',
    summary: 'ask a queued or running task to stop',
    arguments: [{ name: 'ID', description: 'the task’s id (from `mvctl task list`)' }],
    options: [],
    input: (positionals) => taskIdArgument(positionals, 'task cancel'),
    render: ({ task }) =>
      task.state === 'cancelled'
        ? `task ${task.id} cancelled\n`
        : `cancel requested for task ${task.id} (${task.state}); \`mvctl task show ${task.id}\` tells when it stops\n`,
  }),
  remote({
    group: 'audit',
    name: 'list',
    verb: 'audit.list',
    summary: 'the newest audit entries, oldest first',
    arguments: [],
    options: [
      {
        name: 'limit',
        type: 'string',
        value: 'N',
        description: 'at most N entries (default 50, at most 1000)',
      },
      {
        name: 'before',
        type: 'string',
        value: 'SEQ',
        description: 'only entries before sequence number SEQ (to page back)',
      },
    ],
    input(positionals, values) {
      noArguments(positionals, 'audit list');
      return {
        limit: positiveInteger(values['limit'], 'limit', 'audit list'),
        beforeSeq: positiveInteger(values['before'], 'before', 'audit list'),
      };
    },
    render({ entries }) {
      if (entries.length === 0) return 'the audit log is empty\n';
      return formatTable(
        ['SEQ', 'TIME', 'WHO', 'ACTION', 'TARGET', 'RESULT', 'DETAILS'],
        entries.map((entry) => [
          String(entry.seq),
          formatTime(entry.at),
          `${entry.actor.user}/${entry.actor.role}/${entry.actor.via}`,
          entry.action,
          entry.target,
          entry.result,
          JSON.stringify(entry.details),
        ]),
      );
    },
  }),
  remote({
    group: 'audit',
    name: 'verify',
    verb: 'audit.verify',
    summary: 'recompute the audit log’s hash chain and name the first bad row',
    arguments: [],
    options: [
      {
        name: 'anchor',
        type: 'string',
        value: 'SEQ:HASH',
        description:
          'a head printed by an earlier verify: also proves the log was not cut short or rewritten since',
      },
    ],
    input(positionals, values) {
      noArguments(positionals, 'audit verify');
      const anchor = values['anchor'];
      if (typeof anchor !== 'string') return {};
      const match = /^([1-9]\d*):([0-9a-f]{64})$/.exec(anchor);
      if (match === null)
        throw new UsageError(
          `--anchor takes SEQ:HASH (a number, a colon, 64 hex digits), not "${anchor}"`,
          'audit verify',
        );
      return { anchor: { seq: Number(match[1]), hash: match[2] } };
    },
    render(verification) {
      if (!verification.ok) {
        const bad = verification.firstBad;
        return `audit log BROKEN at row ${bad.seq} (${bad.problem}): ${bad.message}\n${verification.rows} row(s) before it are intact\n`;
      }
      if (verification.head === null) return 'audit log intact: it is empty\n';
      return (
        `audit log intact: ${verification.rows} row(s)\n` +
        `head ${verification.head.seq}:${verification.head.hash}\n` +
        'keep the head somewhere off this host: `mvctl audit verify --anchor <head>` later proves the log was neither cut short nor rewritten\n'
      );
    },
    exitCode: (verification) => (verification.ok ? EXIT_CODES.ok : EXIT_CODES.failed),
  }),
  ...IMAGE_COMMANDS,
  ...VAULT_COMMANDS,
  ...USER_COMMANDS,
  ...ONION_COMMANDS,
  {
    kind: 'local',
    group: 'completion',
    name: 'bash',
    summary: 'print a bash completion script (`source <(mvctl completion bash)`)',
    arguments: [],
    options: [],
    run(positionals, _values, table) {
      noArguments(positionals, 'completion bash');
      return bashCompletionScript(table);
    },
  },
];

export function findCommand(group: string, name: string): Command | undefined {
  return COMMANDS.find((command) => command.group === group && command.name === name);
}

export function groupsOf(table: readonly Command[]): string[] {
  return [...new Set(table.map((command) => command.group))];
}
