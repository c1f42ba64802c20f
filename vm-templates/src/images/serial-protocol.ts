/**
 * The guest → host serial protocol. A guest built by Multiverse writes, once per boot, on its
 * first serial port (ttyS0) and at the start of a line:
 *
 *     MULTIVERSE-READY v2 boot_id=<uuid> uptime=<seconds> hostname=<name> disks=<names> nics=<names>
 *
 * when its userspace is up and its console shell is being started. `boot_id` is the kernel's
 * random per-boot UUID, so the host can tell a fresh boot from a line replayed out of an old
 * console log; `uptime` is the guest's /proc/uptime at that moment (boot cost as the guest saw it);
 * `hostname` is what the guest set; `disks` and `nics` are the block devices and network
 * interfaces backed by a device (no loop, ram or lo), comma-separated in sorted order, empty when
 * there are none. Fields are separated by one space and never contain spaces.
 *
 * v2 readers ignore `key=value` fields after `nics`, so later additions that old readers can skip
 * stay v2; a change to an existing field's meaning takes a new version. v1 (the same line up to
 * `hostname`, nothing after it) is still read, for guests built before v2.
 *
 * The console is guest-controlled: the announcement says the guest booted, it does not
 * authenticate anything.
 */
export const READY_LINE_PREFIX = 'MULTIVERSE-READY';
/** The version Multiverse guests write. */
export const SERIAL_PROTOCOL_VERSION = 2;

interface ReadyAnnouncementBase {
  readonly bootId: string;
  readonly uptimeSeconds: number;
  readonly hostname: string;
}

export interface ReadyAnnouncementV1 extends ReadyAnnouncementBase {
  readonly protocolVersion: 1;
}

export interface ReadyAnnouncementV2 extends ReadyAnnouncementBase {
  readonly protocolVersion: 2;
  /** Block devices the guest sees (`vda`, `vdb`, ...), sorted. */
  readonly disks: readonly string[];
  /** Network interfaces backed by a device (`eth0`, `enp1s0`, ...), sorted. */
  readonly nics: readonly string[];
}

export type ReadyAnnouncement = ReadyAnnouncementV1 | ReadyAnnouncementV2;

/** RFC 1123 host label, lower case: what Multiverse guests accept as hostname. */
export const GUEST_HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A kernel device name as a guest reports it: block device (`vda`, `nvme0n1`) or interface name (at most 15 bytes). */
export const GUEST_DEVICE_NAME = /^[A-Za-z0-9_.:@!-]{1,32}$/;

const COMMON_FIELDS =
  'boot_id=([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) ' +
  'uptime=([0-9]{1,10}(?:\\.[0-9]{1,6})?) ' +
  'hostname=([a-z0-9-]{1,63})';
const DEVICE_LIST = '((?:[A-Za-z0-9_.:@!-]{1,32}(?:,[A-Za-z0-9_.:@!-]{1,32}){0,255})?)';
const READY_LINE_V1 = new RegExp(`^${READY_LINE_PREFIX} v1 ${COMMON_FIELDS}$`);
const READY_LINE_V2 = new RegExp(
  `^${READY_LINE_PREFIX} v2 ${COMMON_FIELDS} disks=${DEVICE_LIST} nics=${DEVICE_LIST}` +
    '((?: [a-z][a-z0-9_]{0,31}=[!-~]{0,1024}){0,32})$',
);

/** The announcement on this console line (without its line ending), or undefined for any other line. */
export function parseReadyLine(line: string): ReadyAnnouncement | undefined {
  const v2 = READY_LINE_V2.exec(line);
  if (v2 !== null) {
    const [, bootId, uptime, hostname, disks, nics] = v2 as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!GUEST_HOSTNAME.test(hostname)) return undefined;
    return {
      protocolVersion: 2,
      bootId,
      uptimeSeconds: Number(uptime),
      hostname,
      disks: splitDeviceList(disks),
      nics: splitDeviceList(nics),
    };
  }
  const v1 = READY_LINE_V1.exec(line);
  if (v1 === null) return undefined;
  const [, bootId, uptime, hostname] = v1 as unknown as [string, string, string, string];
  if (!GUEST_HOSTNAME.test(hostname)) return undefined;
  return { protocolVersion: 1, bootId, uptimeSeconds: Number(uptime), hostname };
}

/** The line a guest writes for this announcement (the inverse of parseReadyLine). */
export function formatReadyLine(announcement: ReadyAnnouncement): string {
  const common =
    `${READY_LINE_PREFIX} v${announcement.protocolVersion} boot_id=${announcement.bootId} ` +
    `uptime=${announcement.uptimeSeconds.toFixed(2)} hostname=${announcement.hostname}`;
  if (announcement.protocolVersion === 1) return common;
  return `${common} disks=${announcement.disks.join(',')} nics=${announcement.nics.join(',')}`;
}

function splitDeviceList(list: string): string[] {
  return list === '' ? [] : list.split(',');
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
