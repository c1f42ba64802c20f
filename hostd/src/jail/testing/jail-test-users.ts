// Test support for the jail's tests: users made with mvctl whose TOTP secrets the test keeps, so it can log
// in as them with OpenSSH's client.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { generateSync } from 'otplib';
import type { OpenSshLogin } from '@multiverse/jail-shell';
import type { VerbOutput } from '../../service/index.js';
import type { HostdProcess } from '../../testing/hostd-process.js';

/**
 * Jail users of one hostd, all with one client key made by `ssh-keygen` in `workDir`. A login consumes
 * the user's current time step, so a test logs in as a user once (or enrolls them again).
 */
export class JailTestUsers {
  readonly keyPath: string;
  private readonly secrets = new Map<string, string>();

  constructor(
    private readonly hostd: HostdProcess,
    private readonly workDir: string,
    private readonly port: () => number,
  ) {
    this.keyPath = join(workDir, 'client_ed25519');
  }

  /** Makes the client key pair (once per work directory). */
  makeClientKey(): void {
    const keygen = spawnSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'jail-test',
      '-f',
      this.keyPath,
    ]);
    assert.equal(keygen.status, 0, keygen.stderr.toString());
  }

  async add(name: string, role: 'owner' | 'operator' | 'viewer'): Promise<void> {
    await this.hostd.mvctlJson(['user', 'add', name, '--key', `${this.keyPath}.pub`, '--role', role]);
    await this.enroll(name);
  }

  /** A fresh secret: its codes start a new history of used time steps. */
  async enroll(name: string): Promise<void> {
    const enrolled = await this.hostd.mvctlJson<VerbOutput<'user.otp-enroll'>>(['user', 'otp-enroll', name]);
    this.secrets.set(name, new URL(enrolled.uri).searchParams.get('secret') ?? '');
  }

  /** Records a secret the test read itself (from `user otp-enroll`'s printed URI). */
  remember(name: string, secret: string): void {
    this.secrets.set(name, secret);
  }

  code(name: string): string {
    return generateSync({ secret: this.secrets.get(name) ?? '' });
  }

  login(name: string, extra: Partial<OpenSshLogin> = {}): OpenSshLogin {
    return {
      port: this.port(),
      user: name,
      keyPath: this.keyPath,
      code: this.code(name),
      workDir: this.workDir,
      ...extra,
    };
  }
}
