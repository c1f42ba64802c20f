import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBootstrapPhase, parseCircuitStatus, parseRelayName, parseTorEvent } from './events.js';
import { ControlReplyParser } from './reply-parser.js';

/** Parses one event from raw lines (CRLF added), as the client would receive it. */
function event(...lines: string[]) {
  const [reply] = new ControlReplyParser().push(Buffer.from(lines.map((line) => `${line}\r\n`).join('')));
  assert.ok(reply);
  return parseTorEvent(reply);
}

const FP_A = '0123456789ABCDEF0123456789ABCDEF01234567';
const FP_B = 'FEDCBA9876543210FEDCBA9876543210FEDCBA98';

// Event lines below are written from control-spec.txt §4.1.1, §4.1.2, §4.1.10 and §4.1.25.
describe('parseTorEvent', () => {
  it('turns a STATUS_CLIENT BOOTSTRAP event into a bootstrap event', () => {
    assert.deepEqual(
      event(
        '650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=75 TAG=enough_dirinfo SUMMARY="Loaded enough directory info"',
      ),
      {
        type: 'bootstrap',
        severity: 'NOTICE',
        progress: 75,
        tag: 'enough_dirinfo',
        summary: 'Loaded enough directory info',
      },
    );
  });

  it('keeps the warning of a bootstrap problem', () => {
    const parsed = event(
      '650 STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=1 RECOMMENDATION=ignore',
    );
    assert.equal(parsed.type, 'bootstrap');
    assert.equal(parsed.type === 'bootstrap' && parsed.warning, 'Connection refused');
    assert.equal(parsed.type === 'bootstrap' && parsed.reason, 'CONNECTREFUSED');
  });

  it('reports other status events with their arguments', () => {
    const parsed = event('650 STATUS_GENERAL WARN CLOCK_JUMPED TIME=120');
    assert.equal(parsed.type, 'status');
    assert.equal(parsed.type === 'status' && parsed.action, 'CLOCK_JUMPED');
    assert.equal(parsed.type === 'status' && parsed.arguments.get('TIME'), '120');
  });

  it('parses a built circuit with its path and SOCKS credentials', () => {
    const parsed = event(
      `650 CIRC 17 BUILT $${FP_A}~exit1,$${FP_B}~relay2 BUILD_FLAGS=NEED_CAPACITY,NEED_UPTIME PURPOSE=GENERAL ` +
        'TIME_CREATED=2024-01-01T10:00:00.123456 SOCKS_USERNAME="multiverse-bridge:alice" SOCKS_PASSWORD="n:1"',
    );
    assert.deepEqual(parsed, {
      type: 'circuit',
      circuitId: '17',
      status: 'BUILT',
      path: [
        { fingerprint: FP_A, nickname: 'exit1' },
        { fingerprint: FP_B, nickname: 'relay2' },
      ],
      buildFlags: ['NEED_CAPACITY', 'NEED_UPTIME'],
      purpose: 'GENERAL',
      timeCreated: '2024-01-01T10:00:00.123456',
      socksUsername: 'multiverse-bridge:alice',
      socksPassword: 'n:1',
    });
  });

  it('parses a just-launched circuit that has no path yet', () => {
    const parsed = event('650 CIRC 3 LAUNCHED BUILD_FLAGS=IS_INTERNAL PURPOSE=HS_VANGUARDS');
    assert.equal(parsed.type === 'circuit' && parsed.path.length, 0);
    assert.equal(parsed.type === 'circuit' && parsed.purpose, 'HS_VANGUARDS');
  });

  it('takes extra keyword lines of an extended event into account', () => {
    const parsed = event(`650-CIRC 1000 CLOSED $${FP_A} 0xBEEF`, '650-EXTRAMAGIC=99', '650 REASON=FINISHED');
    assert.equal(parsed.type === 'circuit' && parsed.reason, 'FINISHED');
  });

  it('parses stream events, including IPv6 and tor-internal targets', () => {
    const parsed = event(
      '650 STREAM 42 SUCCEEDED 17 abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion:80 ' +
        'SOCKS_USERNAME="u" CLIENT_PROTOCOL=SOCKS5 NYM_EPOCH=0 SESSION_GROUP=-2 ISO_FIELDS=SOCKS_USERNAME',
    );
    assert.deepEqual(parsed, {
      type: 'stream',
      streamId: '42',
      status: 'SUCCEEDED',
      circuitId: '17',
      targetHost: 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion',
      targetPort: 80,
      socksUsername: 'u',
      clientProtocol: 'SOCKS5',
    });
    const v6 = event('650 STREAM 7 NEW 0 [::1]:8080 SOURCE_ADDR=127.0.0.1:5555 PURPOSE=USER');
    assert.equal(v6.type === 'stream' && v6.targetHost, '::1');
    assert.equal(v6.type === 'stream' && v6.sourceAddress, '127.0.0.1:5555');
    const internal = event('650 STREAM 8 CLOSED 3 (Tor_internal):0 REASON=DONE');
    assert.equal(internal.type === 'stream' && internal.targetHost, '(Tor_internal)');
    assert.equal(internal.type === 'stream' && internal.reason, 'DONE');
  });

  it('parses onion service descriptor events', () => {
    const address = 'abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx';
    const uploaded = event(`650 HS_DESC UPLOADED ${address} UNKNOWN $${FP_A}~hsdir1`);
    assert.deepEqual(uploaded, {
      type: 'hsDescriptor',
      action: 'UPLOADED',
      address,
      authType: 'UNKNOWN',
      hsDir: { fingerprint: FP_A, nickname: 'hsdir1' },
    });
    const failed = event(`650 HS_DESC FAILED ${address} NO_AUTH $${FP_B} bmV3ZGVzY2lk REASON=NOT_FOUND`);
    assert.equal(failed.type === 'hsDescriptor' && failed.descriptorId, 'bmV3ZGVzY2lk');
    assert.equal(failed.type === 'hsDescriptor' && failed.reason, 'NOT_FOUND');
    const created = event(`650 HS_DESC CREATED ${address} UNKNOWN UNKNOWN descid`);
    assert.equal(created.type === 'hsDescriptor' && created.hsDir, null);
  });

  it('hands unknown events over whole', () => {
    const parsed = event('650 BW 1024 2048');
    assert.equal(parsed.type, 'other');
    assert.equal(parsed.type === 'other' && parsed.name, 'BW');
    assert.equal(parsed.type === 'other' && parsed.text, '1024 2048');
  });
});

describe('parseBootstrapPhase', () => {
  it('reads GETINFO status/bootstrap-phase', () => {
    const phase = parseBootstrapPhase('NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"');
    assert.equal(phase.progress, 100);
    assert.equal(phase.tag, 'done');
  });

  it('reports progress 0 rather than a nonsense number', () => {
    assert.equal(parseBootstrapPhase('NOTICE BOOTSTRAP PROGRESS=lots TAG=x SUMMARY=y').progress, 0);
  });
});

describe('parseCircuitStatus', () => {
  it('reads one circuit per line, like CIRC events', () => {
    const circuits = parseCircuitStatus(
      `5 BUILT $${FP_A}~a,$${FP_B}~b PURPOSE=GENERAL SOCKS_USERNAME="multiverse-bridge:alice"\n6 LAUNCHED PURPOSE=HS_VANGUARDS`,
    );
    assert.deepEqual(
      circuits.map((circuit) => [
        circuit.circuitId,
        circuit.status,
        circuit.path.length,
        circuit.socksUsername,
      ]),
      [
        ['5', 'BUILT', 2, 'multiverse-bridge:alice'],
        ['6', 'LAUNCHED', 0, undefined],
      ],
    );
    assert.deepEqual(parseCircuitStatus(''), []);
  });
});

describe('parseRelayName', () => {
  it('reads every form tor uses', () => {
    assert.deepEqual(parseRelayName(`$${FP_A}~a`), { fingerprint: FP_A, nickname: 'a' });
    assert.deepEqual(parseRelayName(`$${FP_A}=a`), { fingerprint: FP_A, nickname: 'a' });
    assert.deepEqual(parseRelayName(`$${FP_A.toLowerCase()}`), { fingerprint: FP_A });
    assert.deepEqual(parseRelayName(FP_A), { fingerprint: FP_A });
    assert.deepEqual(parseRelayName('moria1'), { nickname: 'moria1' });
  });
});
