// LUKS-encrypted VM disks whose keys live only in the vault, on the real system libvirtd (TCG): the tiny guest
// boots and reads its encrypted disk while the vault is unsealed; sealed, libvirt has no key and the start is
// refused as VAULT_SEALED.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  DomainCreateFlags,
  ErrorNumber,
  LibvirtClient,
  LibvirtError,
  SecretUsageType,
} from '@multiverse/libvirt-ts';
import type { Domain, LibvirtStream } from '@multiverse/libvirt-ts';
import {
  ConsoleLineSplitter,
  HOSTNAME_KERNEL_PARAMETER,
  buildTinyImage,
  element,
  parseReadyLine,
  renderXml,
} from '@multiverse/vm-templates';
import type { InstalledImage, ReadyAnnouncement } from '@multiverse/vm-templates';
import { createLogger } from '../log.js';
import { ServiceError } from '../service/service-error.js';
import { DiskSecrets } from './disk-secrets.js';
import { diskKeyStartFailure, diskSecretUuidsOf, requireDiskKeys } from './disk-key-check.js';
import { EncryptedVolumes, luksEncryptionElement } from './encrypted-volumes.js';
import { decodeLuksKey, luksEntryName } from './luks-key-entry.js';
import { withPassphraseFile } from './passphrase-file.js';
import { VaultService } from './vault-service.js';
import type { HandedShare } from './vault-service.js';

const run = promisify(execFile);
/** Resume to READY took 2-4 s under TCG on the 2-core build machine; the machine is shared. */
const READY_TIMEOUT_MS = 120_000;
const COMMAND_TIMEOUT_MS = 60_000;

/** The tiny image booted from its kernel, with one encrypted qcow2 disk as vda. TCG: nested KVM fails here. */
function encryptedDomainXml(
  name: string,
  image: InstalledImage,
  diskPath: string,
  secretUuid: string,
): string {
  return renderXml(
    element(
      'domain',
      { type: 'qemu' },
      element('name', {}, name),
      element('memory', { unit: 'MiB' }, '256'),
      element('vcpu', {}, '1'),
      element(
        'os',
        {},
        element('type', { arch: 'x86_64', machine: 'pc' }, 'hvm'),
        element('kernel', {}, image.kernelPath),
        element('initrd', {}, image.initramfsPath),
        element(
          'cmdline',
          {},
          `${image.manifest.boot.kernelArguments} ${HOSTNAME_KERNEL_PARAMETER}=luks-test`,
        ),
      ),
      element('on_poweroff', {}, 'destroy'),
      element('on_reboot', {}, 'destroy'),
      element('on_crash', {}, 'destroy'),
      element(
        'devices',
        {},
        element(
          'disk',
          { type: 'file', device: 'disk' },
          element('driver', { name: 'qemu', type: 'qcow2' }),
          element('source', { file: diskPath }, luksEncryptionElement(secretUuid)),
          element('target', { dev: 'vda', bus: 'virtio' }),
        ),
        element('serial', { type: 'pty' }, element('target', { port: 0 })),
        element('console', { type: 'pty' }, element('target', { type: 'serial', port: 0 })),
        element('memballoon', { model: 'none' }),
      ),
    ),
  );
}

/** Serial console lines, awaited by content. */
class ConsoleLines {
  private readonly splitter = new ConsoleLineSplitter();
  private readonly lines: string[] = [];

  constructor(readonly stream: LibvirtStream) {
    stream.on('data', (chunk: Buffer) => this.lines.push(...this.splitter.push(chunk)));
    stream.on('error', () => undefined);
  }

  async waitFor<T>(what: string, timeoutMs: number, match: (line: string) => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines.splice(0)) {
        const found = match(line);
        if (found !== undefined) return found;
      }
      if (Date.now() > deadline) throw new Error(`no ${what} on the console within ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

describe('encrypted VM disks through libvirt secrets (qemu:///system, TCG)', { timeout: 600_000 }, () => {
  const suffix = randomBytes(4).toString('hex');
  const domainName = `mv-vault-luks-${suffix}`;
  const logger = createLogger('test', { minLevel: 'error', write: () => undefined });
  const marker = `MVLUKS-${randomBytes(6).toString('hex')}`;
  let root: string;
  let client: LibvirtClient;
  let image: InstalledImage;
  let vault: VaultService;
  let secrets: DiskSecrets;
  let volumes: EncryptedVolumes;
  let shares: HandedShare[];
  let diskPath: string;
  let secretUuid: string;
  let domain: Domain | undefined;
  let serial: LibvirtStream | undefined;

  async function unsealAgain(service: VaultService): Promise<void> {
    await service.submitShare(shares[1]!.text);
    const outcome = await service.submitShare(shares[0]!.text);
    assert.equal(outcome.unsealed, true);
    assert.deepEqual(outcome.problems, []);
  }

  async function secretExists(uuid: string): Promise<boolean> {
    try {
      await client.secretLookupByUuid(uuid);
      return true;
    } catch (error) {
      if (error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_SECRET) return false;
      throw error;
    }
  }

  async function recordedUuids(): Promise<string[]> {
    return (
      JSON.parse(await readFile(join(vault.directory, 'libvirt-secrets.json'), 'utf8')) as { uuids: string[] }
    ).uuids;
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-vault-luks-'));
    // QEMU runs as libvirt-qemu: it must traverse to the disk and the image.
    await chmod(root, 0o711);
    await mkdir(join(root, 'disks'), { mode: 0o711 });
    client = await LibvirtClient.connect('qemu:///system');
    image = await buildTinyImage({ imagesDirectory: join(root, 'images') });
    vault = new VaultService({ directory: join(root, 'state', 'vault'), autoSealAfterSeconds: 0, logger });
    secrets = new DiskSecrets({
      vault,
      libvirt: () => client,
      recordPath: join(root, 'state', 'vault', 'libvirt-secrets.json'),
      logger,
    });
    vault.addFollower(secrets);
    await vault.open();
    ({ shares } = await vault.init({ threshold: 2, custodians: [{ name: 'alice' }, { name: 'bob' }] }));
    volumes = new EncryptedVolumes({ vault, secrets, logger });
  });

  after(async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>): Promise<void> => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    serial?.destroy();
    await attempt(() => vault.close());
    const leftover = domain;
    if (leftover !== undefined) {
      await attempt(async () => {
        if (await client.domainIsActive(leftover)) await client.domainDestroy(leftover);
      });
      await attempt(() => client.domainUndefine(leftover));
    }
    if (secretUuid !== undefined) {
      await attempt(async () => {
        if (await secretExists(secretUuid))
          await client.secretUndefine(await client.secretLookupByUuid(secretUuid));
      });
    }
    await attempt(() => client.close());
    await rm(root, { recursive: true, force: true });
    if (failures.length > 0)
      throw new AggregateError(failures, 'cleaning up after the encrypted disk test failed');
  });

  it('creates a LUKS qcow2 whose random passphrase is only in the vault and in a private libvirt secret', async () => {
    diskPath = join(root, 'disks', 'private.qcow2');
    const volume = await volumes.create(diskPath, 64 * 1024 * 1024);
    secretUuid = volume.secretUuid;
    assert.equal(volume.secretProblem, null);
    assert.equal((await stat(diskPath)).mode & 0o777, 0o600);
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', diskPath])).stdout) as {
      encrypted?: boolean;
      'format-specific'?: { data?: { encrypt?: { format?: string } } };
    };
    assert.equal(info.encrypted, true);
    assert.equal(info['format-specific']?.data?.encrypt?.format, 'luks');
    await assert.rejects(volumes.create(diskPath, 1024 * 1024), (error: unknown) => {
      assert.ok(error instanceof ServiceError && error.code === 'ENCRYPTED_VOLUME_EXISTS');
      return true;
    });

    const entry = vault.list().find((candidate) => candidate.name === luksEntryName(secretUuid));
    assert.equal(entry?.managed, true);
    const key = decodeLuksKey(vault.get(luksEntryName(secretUuid)));
    assert.equal(key.volume, diskPath);

    const secret = await client.secretLookupByUuid(secretUuid);
    assert.deepEqual([secret.usageType, secret.usageId], [SecretUsageType.VOLUME, diskPath]);
    await assert.rejects(client.secretGetValue(secret), LibvirtError, 'a private secret cannot be read back');
    assert.deepEqual(await recordedUuids(), [secretUuid]);

    // Written through QEMU's LUKS layer with the vault's passphrase: the file itself holds only ciphertext.
    await withPassphraseFile(Buffer.from(key.passphrase), async (passphraseFile) => {
      const markerFile = join(root, 'marker');
      await writeFile(markerFile, marker);
      await run('qemu-io', [
        '--object',
        `secret,id=k,file=${passphraseFile}`,
        '--image-opts',
        `driver=qcow2,file.filename=${diskPath},encrypt.key-secret=k`,
        '-c',
        `write -s ${markerFile} 0 ${marker.length}`,
      ]);
    });
    assert.ok(!(await readFile(diskPath)).includes(marker), 'the marker is readable in the disk file');
  });

  it('boots a guest that reads its encrypted disk while unsealed; sealed, the start is refused as VAULT_SEALED', async () => {
    const xml = encryptedDomainXml(domainName, image, diskPath, secretUuid);
    assert.deepEqual(diskSecretUuidsOf(xml), [secretUuid]);
    requireDiskKeys(vault, xml, domainName);
    const defined = await client.domainDefineXml(xml);
    domain = defined;

    await client.domainCreate(defined, DomainCreateFlags.START_PAUSED);
    serial = await client.domainOpenConsole(defined);
    const lines = new ConsoleLines(serial);
    await client.domainResume(defined);
    const ready = await lines.waitFor<ReadyAnnouncement>('READY line', READY_TIMEOUT_MS, parseReadyLine);
    assert.ok(
      ready.protocolVersion === 2 && ready.disks.includes('vda'),
      `the guest sees ${JSON.stringify(ready)}`,
    );
    // Inside the guest, the disk reads as the plaintext written before: QEMU decrypts with libvirt's secret.
    const deadline = Date.now() + COMMAND_TIMEOUT_MS;
    let seen: string | undefined;
    while (seen === undefined) {
      assert.ok(Date.now() < deadline, 'the guest never printed its disk’s first bytes');
      serial.write(`head -c ${marker.length} /dev/vda; echo\n`);
      seen = await lines
        .waitFor('the marker', 2000, (line) => (line === marker ? line : undefined))
        .catch(() => undefined);
    }
    // QEMU holds the image open: qemu-img cannot take its lock.
    await assert.rejects(run('qemu-img', ['info', diskPath]), /lock/);
    serial.destroy();
    serial = undefined;
    await client.domainDestroy(defined);

    const sealed = await vault.seal();
    assert.deepEqual(sealed.problems, []);
    assert.equal(await secretExists(secretUuid), false, 'sealing takes the key back from libvirt');
    assert.deepEqual(await recordedUuids(), []);
    assert.throws(
      () => requireDiskKeys(vault, xml, domainName),
      (error: unknown) => {
        assert.ok(error instanceof ServiceError);
        assert.equal(error.code, 'VAULT_SEALED');
        assert.match(error.message, new RegExp(`VM ${domainName} has an encrypted disk`));
        assert.match(error.hint, /mvctl vault unseal/);
        return true;
      },
    );
    // libvirt itself refuses too, and hostd names the reason.
    const refusal = await client.domainCreate(defined).then(
      () => assert.fail('an encrypted VM started while the vault was sealed'),
      (error: unknown) => error,
    );
    assert.ok(refusal instanceof LibvirtError && refusal.code === ErrorNumber.ERR_NO_SECRET, String(refusal));
    const explained = diskKeyStartFailure(vault, refusal, domainName);
    assert.equal(explained?.code, 'VAULT_SEALED');
    assert.equal(explained?.kind, 'conflict');
    assert.equal(diskKeyStartFailure(vault, new Error('other'), domainName), undefined);

    await unsealAgain(vault);
    assert.equal(await secretExists(secretUuid), true, 'unsealing gives the key to libvirt again');
    await client.domainCreate(defined, DomainCreateFlags.START_PAUSED);
    await client.domainDestroy(defined);
  });

  it('takes back the keys a hostd that died unsealed left with libvirt, and gives them again after libvirtd lost them', async () => {
    assert.equal(await secretExists(secretUuid), true);
    // A new hostd over the same state: its vault opens sealed, the old process's secret is still in libvirtd.
    const restarted = new VaultService({ directory: vault.directory, autoSealAfterSeconds: 0, logger });
    const restartedSecrets = new DiskSecrets({
      vault: restarted,
      libvirt: () => client,
      recordPath: join(vault.directory, 'libvirt-secrets.json'),
      logger,
    });
    restarted.addFollower(restartedSecrets);
    await restarted.open();
    await restartedSecrets.libvirtConnected();
    assert.equal(await secretExists(secretUuid), false);

    await unsealAgain(restarted);
    assert.equal(await secretExists(secretUuid), true);
    // libvirtd restarted: ephemeral secrets are gone until hostd reconnects.
    await client.secretUndefine(await client.secretLookupByUuid(secretUuid));
    await restartedSecrets.libvirtConnected();
    assert.equal(await secretExists(secretUuid), true);

    // Deleting the disk's key: gone from libvirt and the vault; the disk can never be opened again.
    const restartedVolumes = new EncryptedVolumes({ vault: restarted, secrets: restartedSecrets, logger });
    await restartedVolumes.forget(secretUuid);
    assert.equal(await secretExists(secretUuid), false);
    assert.equal(
      restarted.list().some((entry) => entry.name === luksEntryName(secretUuid)),
      false,
    );
    assert.throws(
      () =>
        requireDiskKeys(restarted, encryptedDomainXml(domainName, image, diskPath, secretUuid), domainName),
      (error: unknown) => error instanceof ServiceError && error.code === 'LUKS_KEY_MISSING',
    );
    await restarted.close();
  });
});
