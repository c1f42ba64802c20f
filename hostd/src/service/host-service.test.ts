import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { Domain } from '@multiverse/libvirt-ts';
import {
  VM_METADATA_NAMESPACE,
  element,
  renderXml,
  shippedTemplatesDirectory,
  vmMetadataElement,
} from '@multiverse/vm-templates';
import type { VmMetadata } from '@multiverse/vm-templates';
import type { XmlElement } from '@multiverse/vm-templates';
import { AuditLog } from '../audit/index.js';
import type { HostdStatus } from '../daemon.js';
import { createLogger } from '../log.js';
import { openStateDatabase } from '../state/index.js';
import type { StateDatabase } from '../state/index.js';
import { TaskManager } from '../tasks/index.js';
import { VmEngine } from '../vm-engine/index.js';
import type { Actor } from './actor.js';
import { HostService } from './host-service.js';
import { rejectsWithServiceError } from './testing/service-error-assertions.js';
import { DiskStore } from '../disks/index.js';

const owner: Actor = { user: 'alice', role: 'owner', via: 'cli' };
const viewer: Actor = { user: 'victor', role: 'viewer', via: 'ssh' };

/** An inactive domain definition: enough for libvirt to list it, never started. */
function domainXml(name: string, metadata: XmlElement | null): string {
  return renderXml(
    element(
      'domain',
      { type: 'qemu' },
      element('name', {}, name),
      element('memory', { unit: 'KiB' }, '65536'),
      element('vcpu', {}, '1'),
      element('os', {}, element('type', { arch: 'x86_64' }, 'hvm')),
      metadata !== null && element('metadata', {}, metadata),
    ),
  );
}

/** The host id of the engine under test: VMs whose metadata names it are its own. */
const HOST_ID = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';

describe('HostService (real SQLite, real libvirtd at qemu:///system)', () => {
  let root: string;
  let state: StateDatabase;
  let audit: AuditLog;
  let tasks: TaskManager;
  let client: LibvirtClient;
  let connected = true;
  let service: HostService;
  const defined: Domain[] = [];
  const status: HostdStatus = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    libvirtUri: 'qemu:///system',
    connected: true,
    accelerator: { accelerator: 'tcg', reason: 'forced by MULTIVERSE_ACCELERATOR=tcg' },
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-service-'));
    state = openStateDatabase(root);
    audit = new AuditLog(state.db);
    tasks = new TaskManager(state.db, audit);
    client = await LibvirtClient.connect('qemu:///system');
    const [library, hypervisor] = await Promise.all([client.getLibVersion(), client.getVersion()]);
    status.libvirtVersion = `${library.major}.${library.minor}.${library.release}`;
    status.hypervisorVersion = `${hypervisor.major}.${hypervisor.minor}.${hypervisor.release}`;
    status.hostname = await client.getHostname();
    const host = { status: () => status, libvirt: () => (connected ? client : undefined) };
    const logger = createLogger('test', { minLevel: 'error', write: () => {} });
    service = new HostService({
      host,
      audit,
      tasks,
      vms: new VmEngine({
        host,
        hostId: HOST_ID,
        imagesDirectory: join(root, 'images'),
        templatesDirectory: shippedTemplatesDirectory(),
        disks: new DiskStore({ imagesDir: join(root, 'disk-images'), vmsDir: join(root, 'vms') }),
        logger,
      }),
      logger,
    });
  });

  after(async () => {
    for (const domain of defined) await client.domainUndefine(domain).catch(() => undefined);
    await client.close();
    state.close();
    await rm(root, { recursive: true, force: true });
  });

  it('host.info reports versions, the accelerator decision and the node’s CPUs and memory', async () => {
    const info = await service.call(owner, 'host.info', {});
    assert.equal(info.hostname, status.hostname);
    assert.match(info.libvirt.libvirtVersion ?? '', /^\d+\.\d+\.\d+$/);
    assert.match(info.libvirt.hypervisorVersion ?? '', /^\d+\.\d+\.\d+$/);
    assert.deepEqual(info.accelerator, status.accelerator);
    assert.ok(info.node !== null && info.node.cpus >= 1 && info.node.memoryBytes > 64 * 1024 * 1024);
    const row = audit.list({ limit: 1 })[0];
    assert.deepEqual([row?.action, row?.target, row?.result, row?.actor], ['host.info', 'host', 'ok', owner]);
  });

  it('vm.list shows libvirt’s domains with state, and role and template from Multiverse metadata', async () => {
    const suffix = randomBytes(4).toString('hex');
    const metadata: VmMetadata = {
      role: 'app',
      template: 'work',
      image: { name: 'tiny', sha256: 'a'.repeat(64) },
      router: null,
      pinning: 'shared',
      ephemeral: false,
      checkpoints: [],
      host: HOST_ID,
    };
    const names = {
      ours: `mv-svc-app-${suffix}`,
      otherHostd: `mv-svc-other-${suffix}`,
      foreign: `mv-svc-foreign-${suffix}`,
      broken: `mv-svc-broken-${suffix}`,
    };
    const broken = element('mv:vm', { 'xmlns:mv': VM_METADATA_NAMESPACE }, element('mv:role', {}, 'wizard'));
    defined.push(await client.domainDefineXml(domainXml(names.ours, vmMetadataElement(metadata))));
    defined.push(await client.domainDefineXml(domainXml(names.foreign, null)));
    const otherHost = { ...metadata, host: '00000000-0000-4000-8000-000000000000' };
    defined.push(await client.domainDefineXml(domainXml(names.otherHostd, vmMetadataElement(otherHost))));
    defined.push(await client.domainDefineXml(domainXml(names.broken, broken)));

    const { vms } = await service.call(viewer, 'vm.list', {});
    const byName = new Map(vms.map((vm) => [vm.name, vm]));
    assert.deepEqual(
      { ...byName.get(names.ours), uuid: undefined },
      {
        name: names.ours,
        uuid: undefined,
        state: 'shutoff',
        stateReason: 'unknown',
        vcpus: 1,
        memoryBytes: 64 * 1024 * 1024,
        managed: true,
        role: 'app',
        template: 'work',
        metadataProblem: null,
      },
    );
    assert.equal(byName.get(names.ours)?.uuid, defined[0]?.uuid);
    assert.deepEqual(
      [
        byName.get(names.foreign)?.managed,
        byName.get(names.foreign)?.role,
        byName.get(names.foreign)?.metadataProblem,
      ],
      [false, null, null],
    );
    // Another hostd's VM (a test's, a benchmark's) is listed with its role, but is not this hostd's.
    assert.deepEqual(
      [byName.get(names.otherHostd)?.managed, byName.get(names.otherHostd)?.role],
      [false, 'app'],
    );
    const brokenVm = byName.get(names.broken);
    assert.equal(brokenVm?.managed, false);
    assert.equal(brokenVm?.role, null);
    assert.match(brokenVm?.metadataProblem ?? '', /role/);
  });

  it('refuses a verb the role does not allow, and audits the refusal', async () => {
    await assert.rejects(
      service.call(viewer, 'audit.list', {}),
      rejectsWithServiceError('POLICY_DENIED', 'forbidden'),
    );
    await assert.rejects(
      service.call(viewer, 'task.cancel', { id: '0'.repeat(16) }),
      rejectsWithServiceError('POLICY_DENIED', 'forbidden'),
    );
    const rows = audit.list({ limit: 2 });
    assert.deepEqual(
      rows.map((row) => [row.actor.user, row.action, row.result]),
      [
        ['victor', 'audit.list', 'denied'],
        ['victor', 'task.cancel', 'denied'],
      ],
    );
  });

  it('lets a viewer list checkpoints but not make, revert or delete them', async () => {
    const name = `mvtest-absent-${process.pid}`;
    const id = '0'.repeat(16);
    for (const [verb, input] of [
      ['vm.checkpoint', { name }],
      ['vm.revert', { name, id }],
      ['vm.checkpoint-delete', { name, id }],
    ] as const) {
      await assert.rejects(
        service.call(viewer, verb, input),
        rejectsWithServiceError('POLICY_DENIED', 'forbidden'),
      );
    }
    // Past the policy: the verb runs and finds no such VM.
    await assert.rejects(
      service.call(viewer, 'vm.checkpoints', { name }),
      rejectsWithServiceError('VM_NOT_FOUND', 'not-found'),
    );
  });

  it('validates input with the verb’s schema and names the field', async () => {
    await assert.rejects(service.call(owner, 'task.show', { id: 'nope' }), (error: unknown) => {
      rejectsWithServiceError('INPUT_INVALID', 'invalid-input')(error);
      assert.match((error as Error).message, /id: a task id: 16 lowercase hex digits/);
      return true;
    });
    await assert.rejects(
      service.call(owner, 'vm.list', { all: true }),
      rejectsWithServiceError('INPUT_INVALID', 'invalid-input'),
    );
    await assert.rejects(
      service.call(owner, 'audit.list', { limit: 5000 }),
      rejectsWithServiceError('INPUT_INVALID', 'invalid-input'),
    );
    await assert.rejects(
      service.call({ user: 'Robert; DROP', role: 'owner', via: 'cli' }, 'host.info', {}),
      rejectsWithServiceError('ACTOR_INVALID', 'invalid-input'),
    );
    await assert.rejects(
      service.call(owner, 'vm.teleport' as 'vm.list', {}),
      rejectsWithServiceError('VERB_UNKNOWN', 'not-found'),
    );
    assert.equal(audit.list({ limit: 1 })[0]?.result, 'failed');
  });

  it('task verbs list, show and cancel tasks of the task manager', async () => {
    const { task, done } = tasks.start(
      { kind: 'image.build', target: 'tiny', requestedBy: owner },
      (context) =>
        new Promise((_resolve, reject) =>
          context.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
        ),
    );
    const listed = await service.call(viewer, 'task.list', {});
    assert.equal(listed.tasks[0]?.id, task.id);
    const cancelled = await service.call(owner, 'task.cancel', { id: task.id });
    assert.ok(cancelled.task.cancelRequestedAt);
    assert.equal((await done).state, 'cancelled');
    assert.equal((await service.call(viewer, 'task.show', { id: task.id })).task.state, 'cancelled');
    await assert.rejects(
      service.call(owner, 'task.cancel', { id: task.id }),
      rejectsWithServiceError('TASK_FINISHED', 'conflict'),
    );
    await assert.rejects(
      service.call(owner, 'task.show', { id: 'f'.repeat(16) }),
      rejectsWithServiceError('TASK_NOT_FOUND', 'not-found'),
    );
    const failed = audit.list({ limit: 1 })[0];
    assert.deepEqual(failed?.details, {
      input: { id: 'f'.repeat(16) },
      error: { code: 'TASK_NOT_FOUND', message: `no task has the id ${'f'.repeat(16)}` },
    });
  });

  it('says libvirt is unavailable while disconnected; host.info still answers without node facts', async () => {
    connected = false;
    try {
      await assert.rejects(
        service.call(owner, 'vm.list', {}),
        rejectsWithServiceError('LIBVIRT_UNAVAILABLE', 'unavailable'),
      );
      const info = await service.call(owner, 'host.info', {});
      assert.equal(info.libvirt.connected, false);
      assert.equal(info.node, null);
    } finally {
      connected = true;
    }
  });

  it('audits every call in one intact chain', async () => {
    const verification = await service.call(owner, 'audit.verify', {});
    assert.equal(verification.ok, true);
    const { entries } = await service.call(owner, 'audit.list', { limit: 1000 });
    assert.ok(entries.length >= 15);
    assert.ok(
      verification.ok && verification.head && verification.head.seq === entries.length - 1,
      'verify ran before its own row',
    );
  });
});
