import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidUriError, TransportError } from './errors.js';
import { connectTransport, transportForUri } from './transport.js';

describe('transportForUri', () => {
  it('sends local URIs to the system socket and passes them on unchanged', () => {
    assert.deepEqual(transportForUri('qemu:///system'), {
      transport: { kind: 'unix', path: '/run/libvirt/libvirt-sock' },
      remoteUri: 'qemu:///system',
    });
    assert.deepEqual(transportForUri('test:///default', { readOnly: true }), {
      transport: { kind: 'unix', path: '/run/libvirt/libvirt-sock-ro' },
      remoteUri: 'test:///default',
    });
  });

  it('honours ?socket= and the socketPath override, and strips what only the client understands', () => {
    assert.deepEqual(transportForUri('qemu+unix:///system?socket=/tmp/s&extra=1'), {
      transport: { kind: 'unix', path: '/tmp/s' },
      remoteUri: 'qemu:///system?extra=1',
    });
    assert.deepEqual(transportForUri('qemu:///system', { socketPath: '/x/sock' }).transport, {
      kind: 'unix',
      path: '/x/sock',
    });
    assert.equal(transportForUri('qemu:///system?name=qemu:///embed').remoteUri, 'qemu:///embed');
  });

  it('uses the session socket of XDG_RUNTIME_DIR for /session', () => {
    const saved = process.env['XDG_RUNTIME_DIR'];
    process.env['XDG_RUNTIME_DIR'] = '/run/user/1000';
    try {
      assert.deepEqual(transportForUri('qemu:///session').transport, {
        kind: 'unix',
        path: '/run/user/1000/libvirt/libvirt-sock',
      });
    } finally {
      if (saved === undefined) delete process.env['XDG_RUNTIME_DIR'];
      else process.env['XDG_RUNTIME_DIR'] = saved;
    }
  });

  it('maps +tcp and +tls to their default ports and strips the host from the remote URI', () => {
    assert.deepEqual(transportForUri('qemu+tcp://example.org/system'), {
      transport: { kind: 'tcp', host: 'example.org', port: 16509 },
      remoteUri: 'qemu:///system',
    });
    assert.deepEqual(transportForUri('qemu+tcp://[::1]:1234/system').transport, {
      kind: 'tcp',
      host: '::1',
      port: 1234,
    });
    const { transport, remoteUri } = transportForUri(
      'qemu+tls://host.example/system?pkipath=/etc/mypki&no_verify=1',
    );
    assert.equal(remoteUri, 'qemu:///system');
    assert.deepEqual(transport, {
      kind: 'tls',
      host: 'host.example',
      port: 16514,
      caFile: '/etc/mypki/cacert.pem',
      certFile: '/etc/mypki/clientcert.pem',
      keyFile: '/etc/mypki/clientkey.pem',
      verifyServer: false,
    });
  });

  it('defaults a URI with a host but no transport to TLS, as libvirt does', () => {
    const { transport } = transportForUri('qemu://host.example/system');
    assert.equal(transport.kind, 'tls');
  });

  it('says clearly what it cannot do', () => {
    const cases: [string, RegExp][] = [
      ['qemu+ssh://root@host/system', /user names need SASL or SSH/],
      ['qemu+ssh://host/system', /ssh transport, which libvirt-ts does not implement/],
      ['qemu+libssh2://host/system', /libssh2 transport/],
      ['qemu+pigeon://host/system', /unknown transport 'pigeon'/],
      ['qemu+unix://host/system', /unix sockets are local/],
      ['qemu:///system?mode=direct', /'mode', a remote-driver option/],
      ['qemu+tls://host/system?no_verify=yes', /no_verify must be 0 or 1/],
      ['not a uri', /is not a URI/],
    ];
    for (const [uri, message] of cases) {
      assert.throws(
        () => transportForUri(uri),
        (e: Error) =>
          e instanceof InvalidUriError && e.code === 'LIBVIRT_INVALID_URI' && message.test(e.message),
        uri,
      );
    }
    assert.throws(() => transportForUri('qemu+tcp://host/system', { readOnly: true }), /read-only/);
    assert.throws(() => transportForUri('qemu:///session', { readOnly: true }), /read-only/);
  });
});

describe('connectTransport', () => {
  it('explains a missing socket', async () => {
    await assert.rejects(
      connectTransport({ kind: 'unix', path: '/nonexistent/libvirt-sock' }),
      (e: Error) =>
        e instanceof TransportError &&
        e.code === 'LIBVIRT_TRANSPORT' &&
        /is libvirtd running\?/.test(e.message),
    );
  });

  it('explains a refused TCP connection', async () => {
    // Port 1 on loopback: nothing listens there.
    await assert.rejects(
      connectTransport({ kind: 'tcp', host: '127.0.0.1', port: 1 }),
      (e: Error) => e instanceof TransportError && /ECONNREFUSED.*listening there/.test(e.message),
    );
  });

  it('explains missing client PKI files before connecting', async () => {
    await assert.rejects(
      connectTransport({ kind: 'tls', host: '127.0.0.1', port: 1, caFile: '/nonexistent/cacert.pem' }),
      (e: Error) => e instanceof TransportError && /cannot read the TLS CA certificate/.test(e.message),
    );
  });

  it('stops when its signal aborts', async () => {
    await assert.rejects(
      connectTransport({ kind: 'unix', path: '/run/libvirt/libvirt-sock' }, AbortSignal.abort()),
      { name: 'AbortError' },
    );
  });
});
