import { parseReplyArguments } from './arguments.js';
import { TorControlError } from './errors.js';
import type { ControlReply } from './reply-parser.js';

export type TorAuthMethod =
  'NULL' | 'HASHEDPASSWORD' | 'COOKIE' | 'SAFECOOKIE' | (string & Record<never, never>);

/** What PROTOCOLINFO says about a tor before authentication (control-spec §3.21). */
export interface ProtocolInfo {
  readonly protocolVersion: number;
  readonly authMethods: readonly TorAuthMethod[];
  /** Absolute path of the authentication cookie, when COOKIE or SAFECOOKIE is offered. */
  readonly cookieFile?: string;
  /** e.g. "0.4.9.11" */
  readonly torVersion: string;
}

export function parseProtocolInfo(reply: ControlReply): ProtocolInfo {
  let protocolVersion: number | undefined;
  let authMethods: string[] = [];
  let cookieFile: string | undefined;
  let torVersion = '';
  for (const line of reply.lines) {
    const space = line.text.indexOf(' ');
    const word = space === -1 ? line.text : line.text.slice(0, space);
    const args = parseReplyArguments(space === -1 ? '' : line.text.slice(space + 1));
    if (word === 'PROTOCOLINFO') protocolVersion = Number(args.positional[0]);
    if (word === 'AUTH') {
      authMethods = (args.keywords.get('METHODS') ?? '').split(',').filter((method) => method !== '');
      cookieFile = args.keywords.get('COOKIEFILE');
    }
    if (word === 'VERSION') torVersion = args.keywords.get('Tor') ?? '';
  }
  if (protocolVersion === undefined || !Number.isInteger(protocolVersion)) {
    throw new TorControlError(
      'TOR_CONTROL_UNEXPECTED_REPLY',
      'tor answered PROTOCOLINFO without a "PROTOCOLINFO <version>" line',
    );
  }
  return { protocolVersion, authMethods, torVersion, ...(cookieFile === undefined ? {} : { cookieFile }) };
}
