// Domain lifecycle events: registration messages, the event message, naming, and routing by callback id.
import {
  DomainEventCrashedDetailType,
  DomainEventDefinedDetailType,
  DomainEventPMSuspendedDetailType,
  DomainEventResumedDetailType,
  DomainEventShutdownDetailType,
  DomainEventStartedDetailType,
  DomainEventStoppedDetailType,
  DomainEventSuspendedDetailType,
  DomainEventType,
  DomainEventUndefinedDetailType,
} from '../generated/enums.js';
import type { XdrReader } from '../xdr/index.js';
import { int, none, optional, remoteProcedure, struct } from './codec.js';
import { domain } from './domains.js';
import type { Domain } from './domains.js';
import { enumKey } from './enum-keys.js';
import { Procedure } from './procedures.js';

export type DomainLifecycleEventName = Lowercase<keyof typeof DomainEventType>;

export interface DomainLifecycleEvent {
  readonly domain: Domain;
  /** What happened, e.g. 'started', 'stopped'; 'unknown' for events newer than this build. */
  readonly event: DomainLifecycleEventName | 'unknown';
  /** Why, from the detail enum that goes with the event, e.g. 'booted' or 'destroyed'. */
  readonly detail: string;
  /** The DomainEventType value. */
  readonly eventCode: number;
  /** The detail value, e.g. a DomainEventStoppedDetailType for 'stopped'. */
  readonly detailCode: number;
}

export type DomainLifecycleListener = (event: DomainLifecycleEvent) => void;

const DETAILS_BY_EVENT: Readonly<Record<number, Readonly<Record<string, number>>>> = {
  [DomainEventType.DEFINED]: DomainEventDefinedDetailType,
  [DomainEventType.UNDEFINED]: DomainEventUndefinedDetailType,
  [DomainEventType.STARTED]: DomainEventStartedDetailType,
  [DomainEventType.SUSPENDED]: DomainEventSuspendedDetailType,
  [DomainEventType.RESUMED]: DomainEventResumedDetailType,
  [DomainEventType.STOPPED]: DomainEventStoppedDetailType,
  [DomainEventType.SHUTDOWN]: DomainEventShutdownDetailType,
  [DomainEventType.PMSUSPENDED]: DomainEventPMSuspendedDetailType,
  [DomainEventType.CRASHED]: DomainEventCrashedDetailType,
};

export function describeLifecycleEvent(
  subject: Domain,
  eventCode: number,
  detailCode: number,
): DomainLifecycleEvent {
  const details = DETAILS_BY_EVENT[eventCode];
  return {
    domain: subject,
    event:
      (enumKey(DomainEventType, eventCode)?.toLowerCase() as DomainLifecycleEventName | undefined) ??
      'unknown',
    detail: (details && enumKey(details, detailCode)?.toLowerCase()) ?? 'unknown',
    eventCode,
    detailCode,
  };
}

/** `remote_domain_event_callback_lifecycle_msg`: a callback id, then `remote_domain_event_lifecycle_msg`. */
const lifecycleMessage = struct({ callbackId: int, domain, event: int, detail: int });

export const EventProcedures = {
  register: remoteProcedure(
    Procedure.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
    struct({ eventId: int, domain: optional(domain) }),
    int,
  ),
  deregister: remoteProcedure(Procedure.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, int, none),
};

/** Events that arrive for a callback id not yet known are held for a registration in flight, up to this many. */
const EARLY_EVENTS_MAX = 256;

/**
 * Routes DOMAIN_EVENT_CALLBACK_LIFECYCLE messages to listeners by callback id. libvirtd may send a
 * callback's first event before the reply that tells us its id, so while a registration is in flight,
 * events for unknown ids are held and handed over once the id is known.
 */
export class LifecycleEventRouter {
  private readonly listeners = new Map<number, DomainLifecycleListener>();
  private registrationsInFlight = 0;
  private early: { callbackId: number; event: DomainLifecycleEvent }[] = [];

  /** Decodes one message; wire it to the connection's `onMessage`. */
  handleMessage(reader: XdrReader): void {
    const message = lifecycleMessage.read(reader);
    const event = describeLifecycleEvent(message.domain, message.event, message.detail);
    const listener = this.listeners.get(message.callbackId);
    if (listener) deliver(listener, event);
    else if (this.registrationsInFlight > 0 && this.early.length < EARLY_EVENTS_MAX) {
      this.early.push({ callbackId: message.callbackId, event });
    }
  }

  /** Runs `register` (the daemon call that returns a callback id) and attaches `listener` to that id. */
  async add(register: () => Promise<number>, listener: DomainLifecycleListener): Promise<number> {
    this.registrationsInFlight++;
    let callbackId: number;
    try {
      callbackId = await register();
    } catch (error) {
      if (--this.registrationsInFlight === 0) this.early = [];
      throw error;
    }
    this.registrationsInFlight--;
    this.listeners.set(callbackId, listener);
    const held = this.early.filter((entry) => entry.callbackId === callbackId);
    this.early =
      this.registrationsInFlight > 0 ? this.early.filter((entry) => entry.callbackId !== callbackId) : [];
    for (const entry of held) deliver(listener, entry.event);
    return callbackId;
  }

  /** Detaches the listener of `callbackId`; false if it was not attached. */
  remove(callbackId: number): boolean {
    return this.listeners.delete(callbackId);
  }

  /** Detaches every listener, e.g. when the connection closed. */
  clear(): void {
    this.listeners.clear();
    this.early = [];
  }
}

function deliver(listener: DomainLifecycleListener, event: DomainLifecycleEvent): void {
  try {
    listener(event);
  } catch (error) {
    // A listener's bug must not stop delivery to the others or break the connection.
    process.emitWarning(`a domain lifecycle listener threw: ${String(error)}`);
  }
}
