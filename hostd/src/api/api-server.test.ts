import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shippedTemplatesDirectory } from '@multiverse/vm-templates';
import { AuditLog } from '../audit/index.js';
import { createLogger } from '../log.js';
import { HostService } from '../service/index.js';
import { openStateDatabase } from '../state/index.js';
import type { StateDatabase } from '../state/index.js';
import { TaskManager } from '../tasks/index.js';
import { VmEngine } from '../vm-engine/index.js';
import { ApiServer } from './api-server.js';
import { DiskStore } from '../disks/index.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { result?: unknown; error?: { code: string; message: string; hint: string } };
}

describe('API server on a unix socket (real HostService and SQLite, no libvirt)', () => {
  let root: string;
  let state: StateDatabase;
  let audit: AuditLog;
  let server: ApiServer;
  let socketPath: string;

  function send(
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const call = request({ socketPath, method, path, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'],
          }),
        );
      });
      call.on('error', reject);
      call.end(body);
    });
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-api-'));
    state = openStateDatabase(root);
    audit = new AuditLog(state.db);
    const logger = createLogger('test', { minLevel: 'error', write: () => {} });
    const host = {
      status: () => ({
        pid: process.pid,
        startedAt: new Date().toISOString(),
        libvirtUri: 'qemu:///system',
        connected: false,
      }),
      libvirt: () => undefined,
    };
    const service = new HostService({
      host,
      audit,
      tasks: new TaskManager(state.db, audit),
      vms: new VmEngine({
        host,
        imagesDirectory: join(root, 'images'),
        templatesDirectory: shippedTemplatesDirectory(),
        disks: new DiskStore({ imagesDir: join(root, 'disk-images'), vmsDir: join(root, 'vms') }),
        logger,
      }),
      logger,
    });
    socketPath = join(root, 'hostd.sock');
    // A stale socket file left by a killed hostd: replaced, not refused.
    await writeFile(socketPath, '');
    server = new ApiServer(service, logger);
    await server.listen(socketPath);
  });

  after(async () => {
    await server.close();
    state.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers a verb with { result } and audits it as the local owner with the reported user name', async () => {
    const answer = await send('POST', '/v1/task.list', '{"limit": 5}', {
      'content-type': 'application/json; charset=utf-8',
      'x-multiverse-user': 'carol',
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { result: { tasks: [] } });
    const row = audit.list({ limit: 1 })[0];
    assert.deepEqual([row?.action, row?.actor], ['task.list', { user: 'carol', role: 'owner', via: 'cli' }]);
    const empty = await send('POST', '/v1/audit.verify', undefined, {});
    assert.equal(empty.status, 200, 'an empty body is {}');
    const oddName = await send('POST', '/v1/task.list', '{}', {
      'content-type': 'application/json',
      'x-multiverse-user': 'Robert"); DROP',
    });
    assert.equal(oddName.status, 200);
    assert.equal(
      audit.list({ limit: 1 })[0]?.actor.user,
      'local',
      'a name that is not a user name is not recorded',
    );
  });

  it('refuses at the edge, with a status and { error: { code, message, hint } }', async () => {
    const cases: [Promise<Answer>, number, string][] = [
      [send('GET', '/v1/task.list'), 405, 'METHOD_NOT_ALLOWED'],
      [send('POST', '/v2/task.list', '{}'), 404, 'ROUTE_NOT_FOUND'],
      [send('POST', '/v1/task.list?x=1', '{}'), 404, 'ROUTE_NOT_FOUND'],
      [send('POST', '/v1/..%2Fetc', '{}'), 404, 'ROUTE_NOT_FOUND'],
      [send('POST', '/v1/vm.teleport', '{}'), 404, 'VERB_UNKNOWN'],
      [
        send('POST', '/v1/task.list', '{}', { 'content-type': 'text/plain' }),
        415,
        'CONTENT_TYPE_UNSUPPORTED',
      ],
      [send('POST', '/v1/task.list', '{"limit": '), 400, 'BODY_NOT_JSON'],
      [send('POST', '/v1/task.list', '[1, 2]'), 400, 'BODY_NOT_OBJECT'],
      [send('POST', '/v1/task.list', '"text"'), 400, 'BODY_NOT_OBJECT'],
      [send('POST', '/v1/task.list', Buffer.alloc(70 * 1024, 0x20)), 413, 'BODY_TOO_LARGE'],
      [send('POST', '/v1/task.list', '{"limit": 0}'), 400, 'INPUT_INVALID'],
      [send('POST', '/v1/task.show', '{"id": "0123456789abcdef"}'), 404, 'TASK_NOT_FOUND'],
      [send('POST', '/v1/vm.list', '{}'), 503, 'LIBVIRT_UNAVAILABLE'],
    ];
    for (const [pending, status, code] of cases) {
      const answer = await pending;
      assert.equal(answer.status, status, `${code}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error?.code, code);
      assert.ok((answer.body.error?.message.length ?? 0) > 0 && (answer.body.error?.hint.length ?? 0) > 0);
    }
    assert.equal((await send('GET', '/v1/task.list')).headers['allow'], 'POST');
  });

  it('listens on a socket with mode 0660 and group root', async () => {
    const socket = await stat(socketPath);
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o660);
    assert.equal(socket.gid, 0);
  });
});
