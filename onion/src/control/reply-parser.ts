import { TorControlError } from './errors.js';

/** How a reply line continues: `-` another line follows, `+` a data block follows, ` ` the reply ends. */
export type ReplyLineKind = 'mid' | 'data' | 'end';

export interface ReplyLine {
  readonly status: number;
  readonly kind: ReplyLineKind;
  /** The text after the status code and divider, without the line ending. */
  readonly text: string;
  /** For `data` lines: the data block, dot-unstuffed, its lines joined with "\n". */
  readonly data?: string;
}

/** One complete reply (synchronous, or an asynchronous 6xx event): all lines share one status code. */
export interface ControlReply {
  readonly status: number;
  readonly lines: readonly ReplyLine[];
}

const DIVIDERS: Readonly<Record<string, ReplyLineKind>> = { '-': 'mid', '+': 'data', ' ': 'end' };
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** A reply this large is not something tor sends (a full `ns/all` is a few MB); refuse rather than buffer forever. */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/**
 * Splits the byte stream from tor's control port into replies (control-spec §2.3): status lines and
 * `+` data blocks ending in a lone ".", with RFC 2821 dot-stuffing undone.
 */
export class ControlReplyParser {
  private buffered: Buffer = Buffer.alloc(0);
  private lines: ReplyLine[] = [];
  private replyBytes = 0;
  /** Set while inside a data block: the line that opened it and the block's lines so far. */
  private dataBlock: { opener: { status: number; text: string }; lines: string[] } | null = null;

  /** Feeds bytes; returns every reply they complete, in order. Throws TOR_CONTROL_PROTOCOL on malformed input. */
  push(chunk: Buffer): ControlReply[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const replies: ControlReply[] = [];
    let start = 0;
    for (;;) {
      const end = this.buffered.indexOf(LINE_FEED, start);
      if (end === -1) break;
      const contentEnd = end > start && this.buffered[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
      const reply = this.acceptLine(this.buffered.toString('utf8', start, contentEnd), end + 1 - start);
      if (reply) replies.push(reply);
      start = end + 1;
    }
    this.buffered = this.buffered.subarray(start);
    if (this.replyBytes + this.buffered.length > MAX_REPLY_BYTES) {
      throw new TorControlError(
        'TOR_CONTROL_PROTOCOL',
        `tor sent a reply larger than ${MAX_REPLY_BYTES} bytes`,
      );
    }
    return replies;
  }

  /** True when no partial reply is buffered (so a closed connection lost nothing). */
  get idle(): boolean {
    return this.buffered.length === 0 && this.lines.length === 0 && this.dataBlock === null;
  }

  private acceptLine(line: string, byteLength: number): ControlReply | null {
    this.replyBytes += byteLength;
    if (this.dataBlock) {
      if (line === '.') {
        const { opener, lines } = this.dataBlock;
        this.dataBlock = null;
        this.lines.push({ status: opener.status, kind: 'data', text: opener.text, data: lines.join('\n') });
      } else {
        this.dataBlock.lines.push(line.startsWith('.') ? line.slice(1) : line);
      }
      return null;
    }

    const match = /^([0-9]{3})([-+ ])/.exec(line);
    if (!match) {
      throw new TorControlError(
        'TOR_CONTROL_PROTOCOL',
        `tor sent a line that is not a control reply (expected three digits and "-", "+" or " "): ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    const status = Number(match[1]);
    const kind = DIVIDERS[match[2] as string] as ReplyLineKind;
    const text = line.slice(4);
    const first = this.lines[0];
    if (first && first.status !== status) {
      throw new TorControlError(
        'TOR_CONTROL_PROTOCOL',
        `tor changed the status code inside one reply (${first.status} then ${status})`,
      );
    }
    if (kind === 'data') {
      this.dataBlock = { opener: { status, text }, lines: [] };
      return null;
    }
    this.lines.push({ status, kind, text });
    if (kind === 'mid') return null;

    const reply: ControlReply = { status, lines: this.lines };
    this.lines = [];
    this.replyBytes = 0;
    return reply;
  }
}
