import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InterpreterLauncher } from '@multiverse/jail-shell';
import type {
  JailSessionLauncher,
  JailSessionProcess,
  JailSessionRequest,
  SandboxUser,
} from '@multiverse/jail-shell';
import { ApiServer } from '../api/index.js';
import type { Logger } from '../log.js';
import type { Actor, HostService } from '../service/index.js';

/** Where the session's API socket appears inside the sandbox. */
export const SESSION_SOCKET_INSIDE = '/run/hostd/api.sock';

const INTERPRETER_ENTRY = fileURLToPath(new URL('./jail-interpreter.js', import.meta.url));
/** The install (or checkout) root: hostd's and jail-shell's code and node_modules, all read-only inside. */
const CODE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * The interpreter is small; a bound heap keeps 200 sessions affordable, and no code is made from strings.
 */
const INTERPRETER_NODE_FLAGS = ['--max-old-space-size=96', '--disallow-code-generation-from-strings'];

export interface JailSessionLauncherOptions {
  readonly service: HostService;
  readonly logger: Logger;
  /** `<runDir>/jail-sessions`: one directory per session holds its socket. */
  readonly sessionsDirectory: string;
  readonly sandboxUser: SandboxUser;
}

/**
 * A jail session's process: hostd opens an API socket for this session alone, whose every request is the
 * session's user with their role (`via: ssh`), and starts the interpreter (`jail-interpreter.ts`) in the
 * sandbox with that socket bound in as the only writable thing. The interpreter is not trusted with
 * anything: hostd's policy judges each call on that socket. The socket goes when the process ends.
 */
export class HostdJailSessionLauncher implements JailSessionLauncher {
  constructor(private readonly options: JailSessionLauncherOptions) {}

  async launch(request: JailSessionRequest): Promise<JailSessionProcess> {
    const { sandboxUser, sessionsDirectory, logger } = this.options;
    const directory = join(sessionsDirectory, randomBytes(16).toString('hex'));
    // 0711: the sandbox user must reach the socket to bind it, and cannot list other sessions' names.
    await mkdir(directory, { mode: 0o711 });
    const socket = join(directory, 'api.sock');
    const actor: Actor = { user: request.user.name, role: request.user.role, via: 'ssh' };
    const api = new ApiServer(this.options.service, logger.child('session-api'), {
      actor: () => actor,
      socketAccess: { mode: 0o600, uid: sandboxUser.uid, gid: sandboxUser.gid },
    });
    const cleanUp = async (): Promise<void> => {
      await api.close();
      await rm(directory, { recursive: true, force: true });
    };
    try {
      await api.listen(socket);
      const readOnlyPaths = [CODE_ROOT];
      if (!process.execPath.startsWith('/usr/')) readOnlyPaths.push(dirname(process.execPath));
      const launcher = new InterpreterLauncher({
        program: process.execPath,
        programArguments: [...INTERPRETER_NODE_FLAGS, INTERPRETER_ENTRY, `--socket=${SESSION_SOCKET_INSIDE}`],
        sandbox: {
          user: sandboxUser,
          readOnlyPaths,
          sockets: [{ source: socket, target: SESSION_SOCKET_INSIDE }],
        },
      });
      const started = await launcher.launch(request);
      started.onExit(() => {
        cleanUp().catch((error: unknown) =>
          logger.warn('cannot remove a jail session’s socket', { error: (error as Error).message }),
        );
      });
      return started;
    } catch (error) {
      await cleanUp();
      throw error;
    }
  }
}
