// What a real libvirtd here cannot be made to do on demand: offer polkit or SASL (the shared daemon offers
// "none"; a session daemon ignores auth settings; polkit needs a system D-Bus), or send a callback's first
// event before the reply that registers it. Played by a peer scripted through this package's own framing
// over a real unix socket.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { XdrReader, XdrWriter } from '../xdr/index.js';
import { RpcConnection } from '../rpc/connection.js';
import { MessageType, REMOTE_PROGRAM } from '../rpc/packet.js';
import { scriptedPair } from '../rpc/test-support/scripted-peer.js';
import type { ScriptedPeer } from '../rpc/test-support/scripted-peer.js';
import { DomainEventID, DomainEventType } from '../generated/enums.js';
import { authenticate, UnsupportedAuthError } from './auth.js';
import { domain } from './domains.js';
import { EventProcedures, LifecycleEventRouter } from './events.js';
import type { DomainLifecycleEvent } from './events.js';
import { invoke } from './invoke.js';
import { Procedure, RemoteAuthType } from './procedures.js';

const subject = { name: 'vm', uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f', id: 4 };

function authListBody(types: number[]): Buffer {
  return new XdrWriter().writeArray(types, (w, type) => w.writeInt(type)).toBuffer();
}

describe('negotiation with a scripted daemon', () => {
  let peer: ScriptedPeer;
  let cleanup: () => Promise<void>;
  let rpc: RpcConnection;

  beforeEach(async () => {
    const pair = await scriptedPair();
    ({ peer, cleanup } = pair);
    rpc = new RpcConnection(pair.client);
  });
  afterEach(async () => {
    await rpc.close();
    await cleanup();
  });

  it('asks polkit for its verdict when polkit is offered', async () => {
    const result = authenticate(rpc);
    const list = await peer.next();
    assert.equal(list.header.procedure, Procedure.AUTH_LIST);
    peer.reply(list, authListBody([RemoteAuthType.POLKIT]));
    const polkit = await peer.next();
    assert.equal(polkit.header.procedure, Procedure.AUTH_POLKIT);
    assert.equal(polkit.body.length, 0, 'AUTH_POLKIT has no arguments');
    peer.reply(polkit, new XdrWriter().writeInt(1).toBuffer());
    assert.equal(await result, 'polkit');
  });

  it('refuses SASL with an error that says what to do', async () => {
    const result = authenticate(rpc);
    peer.reply(await peer.next(), authListBody([RemoteAuthType.SASL]));
    await assert.rejects(result, (error: unknown) => {
      assert.ok(error instanceof UnsupportedAuthError);
      assert.equal(error.code, 'LIBVIRT_AUTH_UNSUPPORTED');
      assert.match(error.message, /requires sasl authentication/);
      return true;
    });
  });

  it('takes "none" when it is among the offers', async () => {
    const result = authenticate(rpc);
    peer.reply(await peer.next(), authListBody([RemoteAuthType.SASL, RemoteAuthType.NONE]));
    assert.equal(await result, 'none');
  });

  it('hands a lifecycle event that overtook its registration reply to the new listener', async () => {
    const router = new LifecycleEventRouter();
    rpc.onMessage(REMOTE_PROGRAM, Procedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE, (reader) =>
      router.handleMessage(reader),
    );
    const seen: DomainLifecycleEvent[] = [];
    const added = router.add(
      () => invoke(rpc, EventProcedures.register, { eventId: DomainEventID.LIFECYCLE, domain: null }),
      (event) => seen.push(event),
    );

    const register = await peer.next();
    const args = new XdrReader(register.body);
    assert.equal(args.readInt(), DomainEventID.LIFECYCLE);
    assert.equal(args.readBool(), false, 'no domain filter');

    const eventHeader = {
      ...register.header,
      procedure: Procedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
      type: MessageType.Message,
      serial: 0,
    };
    const event = new XdrWriter().writeInt(7);
    domain.write(event, subject);
    event.writeInt(DomainEventType.STARTED).writeInt(0);
    peer.send(eventHeader, event.toBuffer());
    // An event for a callback nobody registers must not reach this listener.
    const stray = new XdrWriter().writeInt(8);
    domain.write(stray, subject);
    stray.writeInt(DomainEventType.STOPPED).writeInt(0);
    peer.send(eventHeader, stray.toBuffer());
    peer.reply(register, new XdrWriter().writeInt(7).toBuffer());

    assert.equal(await added, 7);
    assert.deepEqual(seen, [
      {
        domain: subject,
        event: 'started',
        detail: 'booted',
        eventCode: DomainEventType.STARTED,
        detailCode: 0,
      },
    ]);
  });
});
