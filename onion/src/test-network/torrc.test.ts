import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTorrc, clientTorrcLines, formatDirAuthorityLine, type DirectoryAuthority } from './torrc.js';

const authority: DirectoryAuthority = {
  nickname: 'auth1',
  address: '127.0.0.1',
  orPort: 5000,
  dirPort: 7000,
  v3Identity: 'A'.repeat(40),
  fingerprint: 'B'.repeat(40),
};
const common = {
  dataDirectory: '/tmp/net/node',
  address: '127.0.0.1',
  authorities: [authority],
  owningProcessId: 4242,
  votingIntervalSeconds: 20,
};
const lines = (text: string): string[] => text.trimEnd().split('\n');

describe('buildTorrc', () => {
  it('formats DirAuthority lines with orport, v3ident, dir address and fingerprint', () => {
    assert.equal(
      formatDirAuthorityLine(authority),
      `DirAuthority auth1 orport=5000 v3ident=${'A'.repeat(40)} 127.0.0.1:7000 ${'B'.repeat(40)}`,
    );
  });

  it('gives every node the testing options, the authorities and its owner', () => {
    for (const role of ['authority', 'relay', 'exit', 'client'] as const) {
      const torrc = lines(buildTorrc({ ...common, role, nickname: 'n', orPort: 5001, dirPort: 7001 }));
      for (const expected of [
        'TestingTorNetwork 1',
        'AssumeReachable 1',
        'PathsNeededToBuildCircuits 0.67',
        'TestingDirAuthVoteExit *',
        'TestingDirAuthVoteHSDir *',
        'TestingDirAuthVoteGuard *',
        'TestingMinExitFlagThreshold 0',
        'V3AuthNIntervalsValid 2',
        'AddressDisableIPv6 1',
        '__OwningControllerProcess 4242',
        'ControlSocket /tmp/net/node/control.sock',
        formatDirAuthorityLine(authority),
      ]) {
        assert.ok(torrc.includes(expected), `${role} lacks ${expected}`);
      }
    }
  });

  it('makes authorities vote every 20 s on IPv4-only ports', () => {
    const torrc = lines(
      buildTorrc({ ...common, role: 'authority', nickname: 'auth1', orPort: 5000, dirPort: 7000 }),
    );
    for (const expected of [
      'ORPort 127.0.0.1:5000 IPv4Only',
      'DirPort 127.0.0.1:7000 IPv4Only',
      'V3AuthoritativeDirectory 1',
      'TestingV3AuthInitialVotingInterval 20',
      'TestingV3AuthInitialVoteDelay 4',
      'TestingV3AuthInitialDistDelay 4',
      'ExitPolicy reject *:*',
    ]) {
      assert.ok(torrc.includes(expected), `authority lacks ${expected}`);
    }
  });

  it('lets exits, and only exits, leave for any address including loopback', () => {
    const exit = lines(buildTorrc({ ...common, role: 'exit', nickname: 'exit1', orPort: 5002 }));
    for (const expected of [
      'ExitRelay 1',
      'ExitPolicyRejectPrivate 0',
      'ExitPolicyRejectLocalInterfaces 0',
      'ExitPolicy accept *:*',
    ]) {
      assert.ok(exit.includes(expected), `exit lacks ${expected}`);
    }
    const relay = lines(buildTorrc({ ...common, role: 'relay', nickname: 'relay1', orPort: 5003 }));
    assert.ok(relay.includes('ExitRelay 0') && relay.includes('ExitPolicy reject *:*'));
    assert.ok(!relay.some((line) => line.startsWith('DirPort') || line.startsWith('AuthoritativeDirectory')));
  });

  it('gives a client a SOCKS port with extended errors, and a service host none', () => {
    const client = lines(buildTorrc({ ...common, role: 'client', nickname: 'c', socksPort: 9150 }));
    assert.ok(client.includes('SocksPort 127.0.0.1:9150 ExtendedErrors'));
    assert.ok(client.includes('ControlPort auto'));
    assert.ok(!client.some((line) => line.startsWith('ORPort')));
    assert.ok(!client.some((line) => line.startsWith('Log [rend]')));
    const host = lines(buildTorrc({ ...common, role: 'client', nickname: 'h', onionServiceLog: true }));
    assert.ok(host.includes('SocksPort 0'));
    assert.ok(host.includes('Log [rend]info file /tmp/net/node/onion-service.log'));
    const disabled = lines(
      buildTorrc({ ...common, role: 'client', nickname: 'd', socksPort: 1, networkDisabled: true }),
    );
    assert.ok(disabled.includes('DisableNetwork 1'));
  });

  it('gives a tor started elsewhere the network settings a client of it has, and nothing of its own', () => {
    const extra = clientTorrcLines([authority]);
    const client = lines(buildTorrc({ ...common, role: 'client', nickname: 'c', socksPort: 9150 }));
    for (const line of extra)
      assert.ok(client.includes(line), `${line} is what the harness's clients set too`);
    assert.ok(extra.includes(formatDirAuthorityLine(authority)));
    assert.ok(extra.includes('TestingTorNetwork 1'));
    assert.ok(!extra.some((line) => /^(DataDirectory|ControlSocket|SocksPort|Nickname|__Owning)/.test(line)));
  });

  it('refuses a relay without its ports', () => {
    assert.throws(() => buildTorrc({ ...common, role: 'relay', nickname: 'r' }), /ORPort/);
    assert.throws(() => buildTorrc({ ...common, role: 'authority', nickname: 'a', orPort: 1 }), /DirPort/);
  });
});
