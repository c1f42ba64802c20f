import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, type OpenSshLogin } from '@multiverse/jail-shell';
import { formatNumber, printFigures, printTable } from './report.js';
import { SshSession } from './ssh-jail-client.js';
import { addJailUser, startHostd, startSshd, stopProcess } from './ssh-jail-stack.js';
import { totpCode } from './ssh-jail-totp.js';
import { Teardown } from './teardown.js';
import { median } from './timing.js';

/**
 * `ssh-jail`: how long a login takes from starting `ssh` to a prompt, through hostd's SSH jail (key +
 * TOTP, a sandboxed interpreter per session) and through OpenSSH's sshd (key only, bash), with the same
 * client (OpenSSH's `ssh -tt`) in the same run; then 200 jail sessions held at once, each proven alive by
 * a command, counting every session that failed.
 */

const LATENCY_ROUNDS = 15;
const WARM_UP_ROUNDS = 2;
const HELD_SESSIONS = 200;
const LAUNCH_BATCH = 20;
const PROMPT_TIMEOUT_MS = 120_000;
// The jail's prompt is drawn as `\rNAME@jail> ` and an erase-line; bash's ends in `# `.
// eslint-disable-next-line no-control-regex -- the line editor's erase sequence ends the prompt
const JAIL_PROMPT = /@jail> (\x1b\[K)?$/;
const BASH_PROMPT = /[#$] $/;
/**
 * OpenSSH 9.2 offers the post-quantum sntrup761x25519 exchange first and sshd takes it; ssh2 (the jail)
 * does not have it and settles on curve25519-sha256. The headline compares both on curve25519-sha256, so
 * the ratio measures the servers, not the exchanges; the default lists are measured too.
 */
const KEY_EXCHANGES = [
  { label: 'default key exchange', options: [] },
  { label: 'both curve25519-sha256', options: ['-o', 'KexAlgorithms=curve25519-sha256'] },
] as const;

interface LoginTiming {
  readonly toPromptMs: number;
  readonly toAnswerMs: number;
}

/** One login: ssh started → prompt on screen → `whoami` answered → logged out. */
async function timeLogin(login: OpenSshLogin, prompt: RegExp, answer: RegExp): Promise<LoginTiming> {
  const started = performance.now();
  const session = await SshSession.open(login);
  try {
    await session.waitFor(prompt, PROMPT_TIMEOUT_MS);
    const toPromptMs = performance.now() - started;
    const mark = session.received.length;
    session.type('whoami\r');
    await session.waitFor(answer, PROMPT_TIMEOUT_MS, mark);
    const toAnswerMs = performance.now() - started;
    session.type('exit\r');
    await session.exited;
    return { toPromptMs, toAnswerMs };
  } finally {
    session.kill();
  }
}

async function availableMemoryBytes(): Promise<number> {
  const line = (await readFile('/proc/meminfo', 'utf8'))
    .split('\n')
    .find((entry) => entry.startsWith('MemAvailable:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
}

export async function runSshJail(): Promise<void> {
  const teardown = new Teardown();
  try {
    const root = await mkdtemp(join(tmpdir(), 'bench-ssh-jail-'));
    teardown.defer('remove the work directory', () => rm(root, { recursive: true, force: true }));
    // The sandbox user must reach its session sockets under run/.
    await chmod(root, 0o711);
    const keyPath = join(root, 'client_ed25519');
    const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', keyPath]);
    if (keygen.status !== 0) throw new Error(`ssh-keygen: ${keygen.stderr.toString()}`);
    const publicKey = (await readFile(`${keyPath}.pub`, 'utf8')).trim();

    const jailPort = await freeLoopbackPort();
    const hostd = await startHostd(root, jailPort);
    teardown.defer('stop hostd', () => stopProcess(hostd.process));
    const sshdPort = await freeLoopbackPort();
    const sshd = await startSshd(join(root, 'sshd'), sshdPort, publicKey);
    teardown.defer('stop sshd', () => stopProcess(sshd));

    // Every jail login uses up its user's current TOTP time step: one user per login.
    const latencyUsers = Array.from(
      { length: KEY_EXCHANGES.length * (WARM_UP_ROUNDS + LATENCY_ROUNDS) },
      (_, index) => `lat${index}`,
    );
    const heldUsers = Array.from({ length: HELD_SESSIONS }, (_, index) => `held${index}`);
    const secrets = new Map<string, string>();
    for (const name of [...latencyUsers, ...heldUsers]) {
      secrets.set(name, await addJailUser(hostd.socket, name, publicKey));
    }
    const jailLogin = (user: string, options: readonly string[] = []): OpenSshLogin => ({
      port: jailPort,
      user,
      keyPath,
      code: totpCode(secrets.get(user) ?? ''),
      workDir: root,
      options,
    });
    const sshdLogin = (options: readonly string[]): OpenSshLogin => ({
      port: sshdPort,
      user: 'root',
      keyPath,
      workDir: root,
      options,
    });

    // Login latency, the two servers taking turns so machine load falls on both alike; once with the key
    // exchange each server picks from the client's default list, once with the same one for both.
    const latency = new Map<string, { jail: LoginTiming[]; sshd: LoginTiming[] }>();
    let nextUser = 0;
    for (const { label, options } of KEY_EXCHANGES) {
      const timings = { jail: [] as LoginTiming[], sshd: [] as LoginTiming[] };
      latency.set(label, timings);
      for (let round = 0; round < WARM_UP_ROUNDS + LATENCY_ROUNDS; round += 1) {
        const user = latencyUsers[nextUser] ?? '';
        nextUser += 1;
        const jailAnswer = new RegExp(`${user} \\(viewer\\)`);
        const jailTiming = await timeLogin(jailLogin(user, options), JAIL_PROMPT, jailAnswer);
        const sshdTiming = await timeLogin(sshdLogin(options), BASH_PROMPT, /\broot\r?\n/);
        if (round >= WARM_UP_ROUNDS) {
          timings.jail.push(jailTiming);
          timings.sshd.push(sshdTiming);
        }
      }
    }
    const medians = (timings: readonly LoginTiming[]): { prompt: number; answer: number } => ({
      prompt: median(timings.map((timing) => timing.toPromptMs)),
      answer: median(timings.map((timing) => timing.toAnswerMs)),
    });

    // 200 sessions at once: logged in in batches, then all held open together and each asked `whoami`.
    const memoryBefore = await availableMemoryBytes();
    const sessions: { user: string; session: SshSession }[] = [];
    teardown.defer('end the held sessions', () => sessions.forEach(({ session }) => session.kill()));
    const errors: string[] = [];
    const launchStarted = performance.now();
    for (let start = 0; start < heldUsers.length; start += LAUNCH_BATCH) {
      await Promise.all(
        heldUsers.slice(start, start + LAUNCH_BATCH).map(async (user) => {
          const session = await SshSession.open(jailLogin(user));
          sessions.push({ user, session });
          await session.waitFor(JAIL_PROMPT, PROMPT_TIMEOUT_MS).catch((error: Error) => {
            errors.push(`${user}: ${error.message}`);
          });
        }),
      );
    }
    const launchSeconds = (performance.now() - launchStarted) / 1000;
    const answered = await Promise.all(
      sessions.map(async ({ user, session }) => {
        if (!session.running) {
          const code = await session.exited;
          errors.push(
            `${user}: ssh ended (exit ${code}) before the check: ${JSON.stringify(session.received.slice(-300))}`,
          );
          return false;
        }
        const mark = session.received.length;
        session.type('whoami\r');
        try {
          await session.waitFor(new RegExp(`${user} \\(viewer\\)`), PROMPT_TIMEOUT_MS, mark);
          return session.running;
        } catch (error) {
          errors.push(`${user}: ${(error as Error).message}`);
          return false;
        }
      }),
    );
    const memoryHeld = memoryBefore - (await availableMemoryBytes());
    const held = answered.filter((ok) => ok).length;
    const sessionErrors = HELD_SESSIONS - held;
    for (const { session } of sessions) session.type('exit\r');
    await Promise.all(
      sessions.map(({ session }) =>
        Promise.race([session.exited, new Promise((resolve) => setTimeout(resolve, 30_000))]),
      ),
    );

    const rows = [...latency].flatMap(([label, timings]) => {
      const jail = medians(timings.jail);
      const sshd = medians(timings.sshd);
      return [
        {
          label: `jail (key + TOTP, sandboxed shell), ${label}`,
          values: { 'to prompt': jail.prompt, 'to first answer': jail.answer },
        },
        {
          label: `sshd (key, bash), ${label}`,
          values: { 'to prompt': sshd.prompt, 'to first answer': sshd.answer },
        },
        {
          label: `ratio jail / sshd, ${label}`,
          values: { 'to prompt': jail.prompt / sshd.prompt, 'to first answer': jail.answer / sshd.answer },
        },
      ];
    });
    const sameKex = latency.get(KEY_EXCHANGES[1].label);
    const headline =
      sameKex === undefined ? Number.NaN : medians(sameKex.jail).prompt / medians(sameKex.sshd).prompt;
    printTable(`SSH login, median of ${LATENCY_ROUNDS} (ms; load ${loadavg()[0]?.toFixed(2)})`, rows);
    printTable(`${HELD_SESSIONS} jail sessions held at once`, [
      {
        label: 'jail',
        values: {
          held,
          errors: sessionErrors,
          'logged in within (s)': formatNumber(launchSeconds),
          'memory per session (MiB, approx.)': formatNumber(memoryHeld / HELD_SESSIONS / 2 ** 20),
        },
      },
    ]);
    for (const error of errors.slice(0, 10)) console.log(`session error: ${error}`);
    if (errors.length > 0)
      console.log(`hostd's warnings and errors:\n${hostd.log().split('\n').slice(-20).join('\n')}`);
    printFigures('ssh-jail', {
      login_latency_ratio_vs_sshd: Number(headline.toFixed(3)),
      sessions_held: held,
      session_errors: sessionErrors,
    });
  } finally {
    await teardown.run();
  }
}
