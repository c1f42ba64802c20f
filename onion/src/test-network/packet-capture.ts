import { spawn } from 'node:child_process';

/** One packet tcpdump saw on the host: on which interface, which way, and its one-line summary. */
export interface CapturedPacket {
  readonly interfaceName: string;
  readonly direction: 'In' | 'Out' | 'M' | 'B' | 'P';
  readonly summary: string;
}

export interface PacketCapture {
  /** Stops tcpdump (by PID) and resolves with every packet it printed. */
  stop(): Promise<CapturedPacket[]>;
}

/**
 * Captures on every interface of this network namespace (`tcpdump -i any`) with a BPF `filter`; resolves once
 * tcpdump is listening. Tests use it to show a probe appears on one interface and nowhere else.
 */
export function startPacketCapture(filter: string, timeoutMs = 15_000): Promise<PacketCapture> {
  const child = spawn('tcpdump', ['-i', 'any', '-nn', '-l', '-U', filter], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpdump did not start listening within ${timeoutMs} ms: ${stderr.trim()}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new Error(missing ? 'tcpdump is not installed: apt-get install tcpdump' : error.message));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (!stderr.includes('listening on')) return;
      clearTimeout(timer);
      resolve({
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
          return parseCapturedLines(stdout);
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!stderr.includes('listening on')) reject(new Error(`tcpdump exited (${code}): ${stderr.trim()}`));
    });
  });
}

/** Parses tcpdump's `-i any` lines: "12:32:49.311195 lo    In  IP 127.0.0.1 > …". */
export function parseCapturedLines(text: string): CapturedPacket[] {
  const packets: CapturedPacket[] = [];
  for (const line of text.split('\n')) {
    const match = /^[0-9:.]+ (\S+)\s+(In|Out|M|B|P)\s+(.*)$/.exec(line);
    if (match) {
      packets.push({
        interfaceName: match[1] as string,
        direction: match[2] as CapturedPacket['direction'],
        summary: match[3] as string,
      });
    }
  }
  return packets;
}
