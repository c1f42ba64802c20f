import { z } from 'zod';
import type { CallHomeClientGrant, CallHomeReport, HostOnion, OnionDeviceReport } from '../onion/index.js';
import { ServiceError } from './service-error.js';
import { defineVerb } from './verb.js';
import type { VerbContext } from './verb.js';

/** The rule the library applies to a device name, checked here first so the refusal names the field. */
const clientName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, {
  message: 'a device name: 1-32 of A-Z a-z 0-9 _ -, starting with a letter or digit',
});

const deviceSelection = {
  /** The host side's interface name (default onion0); its peer has the same name inside the namespace. */
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,13}$/, {
      message: 'an interface name: 1-14 of a-z 0-9 _, starting with a letter',
    })
    .optional(),
  /** A /30 for the pair (default 10.153.0.0/30). */
  subnet: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/30$/, { message: 'an IPv4 /30 network, e.g. 10.153.0.0/30' })
    .optional(),
};

function onionOf(context: VerbContext): HostOnion {
  if (context.onion === undefined) {
    throw new ServiceError(
      'unavailable',
      'ONION_UNAVAILABLE',
      'this hostd runs without its onion side (tor, call-home, onion0)',
      'the daemon gives its service one at start; this is a test or embedding that did not',
    );
  }
  return context.onion;
}

export const onionVerbs = {
  'callhome.enable': defineVerb({
    summary:
      'publish the SSH jail as a v3 onion service (virtual port 22) with client authorization; again at every hostd start',
    input: z.strictObject({
      /** Publish with no device authorized: anyone who learns the address then reaches the jail’s login. */
      allowWithoutClientAuth: z.boolean().default(false),
    }),
    target: () => 'callhome',
    run: (context, input): Promise<CallHomeReport> => onionOf(context).callHome.enable(input),
  }),
  'callhome.disable': defineVerb({
    summary: 'withdraw the onion service and stop publishing it at start (address and devices are kept)',
    input: z.strictObject({}),
    target: () => 'callhome',
    run: (context): Promise<CallHomeReport> => onionOf(context).callHome.disable(),
  }),
  'callhome.status': defineVerb({
    summary: 'the onion address, whether it is published, the authorized devices, and tor’s state',
    input: z.strictObject({}),
    target: () => 'callhome',
    run: (context): Promise<CallHomeReport> => onionOf(context).callHome.status(),
  }),
  'callhome.add-client': defineVerb({
    summary:
      'authorize a device: its key pair is made now; the auth line (private key) is shown once and kept nowhere',
    input: z.strictObject({ name: clientName }),
    target: (input) => `callhome/${input.name}`,
    // The output carries the device's private key; the input is only its name.
    auditDetails: (input) => ({ name: input.name }),
    run: (context, input): Promise<CallHomeClientGrant> => onionOf(context).callHome.addClient(input.name),
  }),
  'callhome.remove-client': defineVerb({
    summary: 'revoke a device: the service is published again without its key (with none left, withdrawn)',
    input: z.strictObject({ name: clientName }),
    target: (input) => `callhome/${input.name}`,
    run: (context, input): Promise<CallHomeReport> => onionOf(context).callHome.removeClient(input.name),
  }),
  'onion.up': defineVerb({
    summary:
      'bring up an onion device: TCP from its peer goes through tor, DNS to tor’s resolver, everything else is dropped',
    input: z.strictObject({
      ...deviceSelection,
      /** The network namespace its peer end moves into; without one it stays here (for a bridge or a VM). */
      namespace: z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, {
          message: 'a namespace name: 1-64 of A-Z a-z 0-9 _ . -',
        })
        .optional(),
    }),
    target: (input) => `onion/${input.name ?? 'onion0'}`,
    run: (context, input): Promise<OnionDeviceReport> => onionOf(context).devices.up(input),
  }),
  'onion.down': defineVerb({
    summary: 'take an onion device down: its rules, both ends of the pair and tor’s listeners for it',
    input: z.strictObject(deviceSelection),
    target: (input) => `onion/${input.name ?? 'onion0'}`,
    run: (context, input): Promise<OnionDeviceReport> => onionOf(context).devices.down(input),
  }),
  'onion.status': defineVerb({
    summary: 'an onion device (up or not, tor’s ports, packets dropped by reason) and hostd’s tor',
    input: z.strictObject(deviceSelection),
    target: (input) => `onion/${input.name ?? 'onion0'}`,
    run: (context, input): Promise<OnionDeviceReport> => onionOf(context).devices.status(input),
  }),
};
