/**
 * The guest → host serial protocol, version 1. A guest built by Multiverse writes, once per boot,
 * on its first serial port (ttyS0) and at the start of a line:
 *
 *     MULTIVERSE-READY v1 boot_id=<uuid> uptime=<seconds> hostname=<name>
 *
 * when its userspace is up (pseudo file systems mounted, hostname set) and its console shell is
 * being started. `boot_id` is the kernel's random per-boot UUID, so the host can tell a fresh boot
 * from a line replayed out of an old console log; `uptime` is the guest's /proc/uptime at that
 * moment (boot cost as the guest saw it); `hostname` is what the guest set. Fields are separated by
 * one space and never contain spaces. A later version changes the `v1` token and this parser.
 *
 * The console is guest-controlled: the announcement says the guest booted, it does not
 * authenticate anything.
 */
export const READY_LINE_PREFIX = 'MULTIVERSE-READY';
export const SERIAL_PROTOCOL_VERSION = 1;

export interface ReadyAnnouncement {
  readonly protocolVersion: 1;
  readonly bootId: string;
  readonly uptimeSeconds: number;
  readonly hostname: string;
}

/** RFC 1123 host label, lower case: what the tiny guest accepts as hostname. */
export const GUEST_HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const READY_LINE = new RegExp(
  `^${READY_LINE_PREFIX} v${SERIAL_PROTOCOL_VERSION} ` +
    'boot_id=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) ' +
    'uptime=([0-9]{1,10}(?:\\.[0-9]{1,6})?) ' +
    'hostname=([a-z0-9-]{1,63})$',
);

/** The announcement on this console line (without its line ending), or undefined for any other line. */
export function parseReadyLine(line: string): ReadyAnnouncement | undefined {
  const match = READY_LINE.exec(line);
  if (match === null) return undefined;
  const [, bootId, uptime, hostname] = match as unknown as [string, string, string, string];
  if (!GUEST_HOSTNAME.test(hostname)) return undefined;
  return { protocolVersion: 1, bootId, uptimeSeconds: Number(uptime), hostname };
}

/** The line a guest writes for this announcement (the inverse of parseReadyLine). */
export function formatReadyLine(announcement: ReadyAnnouncement): string {
  return (
    `${READY_LINE_PREFIX} v${announcement.protocolVersion} boot_id=${announcement.bootId} ` +
    `uptime=${announcement.uptimeSeconds.toFixed(2)} hostname=${announcement.hostname}`
  );
}

/**
 * Cuts a serial console byte stream into lines. Consoles end lines with CRLF (the tty's onlcr);
 * a bare CR or LF ends a line too, so a line that starts after a carriage return (as the kernel's
 * and the firmware's output sometimes leave) is still seen from its start. A CR at the end of a
 * chunk is held until the next chunk shows whether an LF follows. A line longer than
 * `maxLineLength` is cut, so a guest cannot make the host buffer without bound.
 */
export class ConsoleLineSplitter {
  private pending = '';
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly maxLineLength = 4096) {}

  push(chunk: Uint8Array): string[] {
    this.pending += this.decoder.decode(chunk, { stream: true });
    const lines: string[] = [];
    const lineEnd = /\r\n|\r(?!$)|\n/g;
    let start = 0;
    let match: RegExpExecArray | null;
    while ((match = lineEnd.exec(this.pending)) !== null) {
      lines.push(this.pending.slice(start, match.index));
      start = match.index + match[0].length;
    }
    this.pending = this.pending.slice(start);
    while (this.pending.length > this.maxLineLength) {
      lines.push(this.pending.slice(0, this.maxLineLength));
      this.pending = this.pending.slice(this.maxLineLength);
    }
    return lines;
  }

  /** The text received after the last complete line (e.g. a shell prompt, which has no line end). */
  get partialLine(): string {
    return this.pending.replace(/\r$/, '');
  }
}
