import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { LibvirtStream } from '@multiverse/libvirt-ts';
import {
  TorControlClient,
  startLoopbackHttpServer,
  startPacketCapture,
  startTestTorNetwork,
} from '@multiverse/onion';
import type { LoopbackHttpServer, StreamEvent, TestOnionService, TestTorNetwork } from '@multiverse/onion';
import type { VerbOutput } from '../service/index.js';
import { HostdProcess, eventually } from '../testing/hostd-process.js';
import { removeDomains } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';
import { runConsoleCommand, whenShellAnswers } from '../vm-engine/console-command.js';
import { tapNameOf } from './host-onion-vm-links.js';

// TCG guests behind links of their own to hostd's onion device ("router: onion"), on one private Tor network: a
// tiny guest, in which a v3 onion service (whose target is this test's loopback HTTP server) is resolved by name
// through tor's DNSPort and fetched through its TransPort, UDP, ICMP and IPv6 go nowhere but into the drop
// counters, and with hostd and its tor gone the rules still hold; then a Debian guest from the shipped
// `app-onion`, which configures its link from the kernel command line, fetches the page by name and sends
// nothing that is dropped until the test's own UDP probe.

const run = promisify(execFile);
/** TEST-NET-1 (RFC 5737): an address no packet of this test may ever reach. */
const PROBE_TARGET = '192.0.2.77';
/** Shared with vm-templates' image tests, so the Debian image is built once per change of its recipe. */
const imagesDir = process.env['MULTIVERSE_TEST_IMAGES_DIR'] || '/var/lib/multiverse/images';
/** The tiny image behind the onion device: its busybox has nslookup, wget, traceroute and ping. */
const TINY_ONION_TEMPLATE = 'app-onion-tiny';

type VmInfo = VerbOutput<'vm.info'>;
type OnionLink = NonNullable<VmInfo['onionLink']>;

describe(
  'a VM attached to the onion device directly, over a private Tor network',
  { timeout: 1_500_000 },
  () => {
    let root: string;
    let network: TestTorNetwork;
    let web: LoopbackHttpServer;
    let service: TestOnionService;
    let hostd: HostdProcess;
    let client: LibvirtClient;
    let console: LibvirtStream | undefined;
    const vm = `mvtest-onion-${randomBytes(3).toString('hex')}`;
    const tap = tapNameOf(vm);
    const debianVm = `mvtest-onion-deb-${randomBytes(3).toString('hex')}`;

    const info = (name = vm): Promise<VmInfo> => hostd.mvctlJson<VmInfo>(['vm', 'info', name]);
    const link = async (name = vm): Promise<OnionLink> => {
      const current = (await info(name)).onionLink;
      assert.ok(current, `${name} has an onion link`);
      return current;
    };
    /** A command line run by the guest's console shell (the test's own words, no user input). */
    const inGuest = async (commandLine: string, timeoutMs = 120_000) => {
      assert.ok(console, 'the guest console is open');
      return runConsoleCommand(console, commandLine, { timeoutMs });
    };
    const tablesOf = async (device = tap): Promise<string[]> => {
      const { stdout } = await run('nft', ['-j', 'list', 'tables']);
      return (JSON.parse(stdout) as { nftables: { table?: { family: string; name: string } }[] }).nftables
        .flatMap((item) => (item.table === undefined ? [] : [`${item.table.family} ${item.table.name}`]))
        .filter((table) => table.endsWith(`multiverse_onion_${device}`))
        .sort();
    };
    const tapExists = async (device = tap): Promise<boolean> =>
      access(`/sys/class/net/${device}`).then(
        () => true,
        () => false,
      );

    before(async () => {
      root = await mkdtemp(join(tmpdir(), 'hostd-onion-vm-'));
      // QEMU (libvirt-qemu) reads the image and disks below it; tor (debian-tor) its data directory.
      await chmod(root, 0o711);
      web = await startLoopbackHttpServer('hostd-onion-vm');
      network = await startTestTorNetwork();
      service = await network.addOnionService({ target: { host: '127.0.0.1', port: web.port } });
      await network.waitUntilReachable(service.onionAddress, service.virtualPort, 120_000);
      const extra = join(root, 'torrc-extra');
      await writeFile(extra, ['# the private test network', ...network.clientTorrcLines, ''].join('\n'));
      hostd = new HostdProcess({
        root,
        env: {
          MULTIVERSE_TEMPLATES_DIR: await prepareTemplates(root, [
            {
              name: TINY_ONION_TEMPLATE,
              privateSize: '256MiB',
              volatileSize: '256MiB',
              router: 'onion',
            },
          ]),
          MULTIVERSE_IMAGES_DIR: imagesDir,
          MULTIVERSE_DISPOSABLE_POOL: 'none',
          MULTIVERSE_TOR: 'own',
          MULTIVERSE_TORRC_EXTRA: extra,
        },
      });
      await hostd.start();
      client = await LibvirtClient.connect('qemu:///system');
    });

    after(async () => {
      console?.destroy();
      if (client !== undefined) {
        await removeDomains(client, [vm, `fb-${vm}`, `${vm}-copy`, debianVm, `fb-${debianVm}`]);
        await client.close();
      }
      await hostd?.stop();
      // What a failed run may leave: the links and their tables (named after this test's VMs).
      for (const device of [tap, tapNameOf(debianVm)]) {
        if (await tapExists(device)) await run('ip', ['link', 'delete', device]).catch(() => undefined);
        for (const family of ['netdev', 'ip']) {
          await run('nft', ['delete', 'table', family, `multiverse_onion_${device}`]).catch(() => undefined);
        }
      }
      await network?.stop();
      await web?.close();
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('refuses "onion" as a VM name, since it names the onion device where a router is expected', async () => {
      const refused = await hostd.mvctl([
        'vm',
        'create',
        'onion',
        '--template',
        TINY_ONION_TEMPLATE,
        '--json',
      ]);
      assert.equal(refused.code, 2, refused.stdout);
      const error = (JSON.parse(refused.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'INPUT_INVALID');
      assert.match(error.message, /not "none", "default", "onion"/);
    });

    it('starts the VM on a link of its own, filtered before the guest runs, and needs no libvirt network', async () => {
      await hostd.mvctlJson(['vm', 'create', vm, '--template', TINY_ONION_TEMPLATE]);
      const created = await info();
      assert.equal(created.router, 'onion');
      assert.deepEqual(created.interfaces, []);
      assert.equal(created.onionLink, null);
      // Stopped, its definition has no NIC at all: started by hand, it would have no network.
      const definedXml = await client.domainGetXmlDesc(await client.domainLookupByName(vm));
      assert.doesNotMatch(definedXml, /<interface/);
      assert.equal(await tapExists(), false);

      const started = await hostd.mvctl(['vm', 'start', vm]);
      assert.equal(started.code, 0, `${started.stdout}${started.stderr}\n${hostd.log}`);
      const running = await info();
      assert.equal(running.state, 'running');
      const onionLink = running.onionLink;
      assert.ok(onionLink);
      assert.equal(onionLink.state, 'up');
      assert.equal(onionLink.interfaceName, tap);
      assert.match(onionLink.peerAddress, /^10\.154\.\d+\.\d+$/);
      assert.ok(onionLink.transPort !== undefined && onionLink.dnsPort !== undefined);
      assert.deepEqual(await tablesOf(), [`ip multiverse_onion_${tap}`, `netdev multiverse_onion_${tap}`]);

      // The domain uses exactly that TAP device, as it is (managed='no'): never a bridge, never a shared segment.
      const liveXml = await client.domainGetXmlDesc(await client.domainLookupByName(vm));
      assert.match(liveXml, new RegExp(`<interface type=['"]ethernet['"]>`));
      assert.match(liveXml, new RegExp(`<target dev=['"]${tap}['"] managed=['"]no['"]/>`));
      assert.equal((liveXml.match(/<interface /g) ?? []).length, 1);
      assert.match(
        liveXml,
        new RegExp(`multiverse\\.ipv4=${onionLink.peerAddress.replace(/\./g, '\\.')}/30,`),
      );
      const { stdout: linkJson } = await run('ip', ['-j', '-d', 'link', 'show', tap]);
      const [tapLink] = JSON.parse(linkJson) as { master?: string; linkinfo?: { info_kind?: string } }[];
      assert.equal(tapLink?.master, undefined, 'the TAP device is on no bridge');
      assert.equal(tapLink?.linkinfo?.info_kind, 'tun');

      const vmLinks = JSON.parse(await readFile(join(hostd.stateDir, 'onion-vm-links.json'), 'utf8')) as {
        links: { vm: string; tap: string }[];
      };
      assert.deepEqual(
        vmLinks.links.map((entry) => [entry.vm, entry.tap]),
        [[vm, tap]],
      );

      const human = await hostd.mvctl(['vm', 'info', vm]);
      assert.match(human.stdout, new RegExp(`onion link +${tap} up: guest ${onionLink.peerAddress}`));

      console = await client.domainOpenConsole(await client.domainLookupByName(vm), { flags: 1 });
      const configured = await whenShellAnswers(
        console,
        'ip -4 address show eth0; ip route; cat /etc/resolv.conf',
        {
          attempts: 5,
          attemptTimeoutMs: 15_000,
        },
      );
      assert.match(configured.output, new RegExp(`inet ${onionLink.peerAddress.replace(/\./g, '\\.')}/30`));
      assert.match(
        configured.output,
        new RegExp(`default via ${onionLink.hostAddress.replace(/\./g, '\\.')}`),
      );
      assert.match(
        configured.output,
        new RegExp(`nameserver ${onionLink.hostAddress.replace(/\./g, '\\.')}`),
      );
    });

    it('resolves the onion name through the DNSPort and fetches the page through the TransPort, from the guest', async () => {
      const onionLink = await link();
      await eventually(
        "hostd's tor bootstrapped on the private network",
        async () => {
          const status = await hostd.mvctlJson<VerbOutput<'onion.status'>>(['onion', 'status']);
          return status.tor.bootstrap?.progress === 100 ? status : undefined;
        },
        180_000,
      );
      const control = await TorControlClient.open({ path: join(hostd.runDir, 'tor', 'control.sock') });
      const streams: StreamEvent[] = [];
      control.onEvent('stream', (event) => streams.push(event));
      await control.setEvents(['STREAM']);
      try {
        // busybox's nslookup asks the nameserver in /etc/resolv.conf (the link's host side: tor's DNSPort).
        const resolved = await inGuest(`nslookup ${service.onionAddress}`);
        assert.equal(resolved.exitCode, 0, resolved.output);
        const mapped = /Address:\s+(10\.\d+\.\d+\.\d+)\s*$/m.exec(resolved.output)?.[1];
        assert.ok(mapped, `a mapped address in tor's virtual range: ${resolved.output}`);
        assert.equal(mapped.split('.')[0], '10');
        assert.ok(Number(mapped.split('.')[1]) >= 192, `${mapped} lies in 10.192.0.0/10`);

        // wget resolves the name itself, then connects to the mapped address: tor's TransPort takes it to the
        // onion service. A fresh service may refuse the first tries; the loop is bounded.
        const served = web.requests();
        const fetched = await inGuest(
          `i=0; until timeout 30 wget -q -O - http://${service.onionAddress}/; do i=$((i+1)); [ $i -ge 10 ] && break; sleep 3; done`,
          420_000,
        );
        assert.equal(fetched.exitCode, 0, fetched.output);
        assert.ok(fetched.output.includes(web.body.trim()), `the page: ${fetched.output}`);
        assert.ok(web.requests() > served);
        // tor saw the stream come from the guest's own address on its link: its client address, on which tor
        // isolates circuits (IsolateClientAddr), so no other VM's streams share them.
        const opened = streams.find((event) => event.status === 'NEW' && event.clientProtocol === 'TRANS');
        assert.ok(opened, `a TransPort stream: ${JSON.stringify(streams)}`);
        assert.equal(opened.sourceAddress?.split(':')[0], onionLink.peerAddress);
        const transPorts = await control.getConf(['TransPort']);
        const ours = transPorts.find((entry) => entry.value?.startsWith(`${onionLink.hostAddress}:`));
        assert.ok(ours, `a TransPort on the link: ${JSON.stringify(transPorts)}`);
        assert.doesNotMatch(ours.value ?? '', /NoIsolateClientAddr|SessionGroup/);
      } finally {
        control.close();
      }
    });

    it('drops UDP, ICMP and IPv6 from the guest, counts them, and nothing appears on another interface', async () => {
      const before = await link();
      const capture = await startPacketCapture(`host ${PROBE_TARGET}`);
      let packets;
      try {
        const probed = await inGuest(
          // busybox's nc has no UDP mode; traceroute's probes are UDP datagrams to high ports.
          `traceroute -n -m 1 -q 2 -w 1 ${PROBE_TARGET}; ping -c 2 -W 1 ${PROBE_TARGET}; ` +
            // IPv6 turned back on inside the guest: its first frames (DAD, MLD) and a ping meet the netdev rule.
            'echo 0 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6; sleep 3; ping6 -c 2 -W 1 ff02::1%eth0; ' +
            'echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6; true',
        );
        assert.equal(probed.exitCode, 0, probed.output);
        assert.match(probed.output, /100% packet loss/);
        // tcpdump hands packets over in blocks (up to a second late without --immediate-mode).
        await sleep(1_500);
      } finally {
        packets = await capture.stop();
      }
      const after = await link();
      assert.ok(after.dropped.udp.packets > before.dropped.udp.packets, JSON.stringify(after.dropped));
      assert.ok(after.dropped.icmp.packets >= before.dropped.icmp.packets + 2, JSON.stringify(after.dropped));
      assert.ok(after.dropped.ipv6.packets > before.dropped.ipv6.packets, JSON.stringify(after.dropped));
      assert.ok(
        packets.some((packet) => /UDP|udp/.test(packet.summary)),
        JSON.stringify(packets),
      );
      assert.ok(
        packets.some((packet) => /ICMP echo request/.test(packet.summary)),
        JSON.stringify(packets),
      );
      for (const packet of packets) {
        assert.equal(packet.interfaceName, tap, `seen elsewhere: ${JSON.stringify(packet)}`);
        assert.equal(packet.direction, 'In', `sent back or on: ${JSON.stringify(packet)}`);
      }
    });

    it('with hostd and its tor gone, the guest’s TCP reaches nothing: the rules stay, nothing falls back', async () => {
      const onionLink = await link();
      const torPid = (await hostd.mvctlJson<VerbOutput<'onion.status'>>(['onion', 'status'])).tor.pid;
      assert.ok(torPid !== null);
      await hostd.stop('SIGKILL');
      process.kill(torPid, 'SIGKILL');
      await eventually('tor gone', async () =>
        access(`/proc/${torPid}`).then(
          () => undefined,
          () => true,
        ),
      );
      assert.deepEqual(await tablesOf(), [`ip multiverse_onion_${tap}`, `netdev multiverse_onion_${tap}`]);

      const capture = await startPacketCapture(`host ${PROBE_TARGET}`);
      let packets;
      try {
        const direct = await inGuest(
          `nc -w 5 ${PROBE_TARGET} 80 < /dev/null; echo "direct=$?"; ` +
            `timeout 20 wget -q -O - http://${service.onionAddress}/; echo "onion=$?"`,
        );
        assert.match(direct.output, /direct=[1-9]/, direct.output);
        assert.match(direct.output, /onion=[1-9]/, direct.output);
        assert.ok(!direct.output.includes(web.body.trim()));
        // tcpdump hands packets over in blocks (up to a second late without --immediate-mode).
        await sleep(1_500);
      } finally {
        packets = await capture.stop();
      }
      // The SYN was redirected to the link's own (closed) port and refused there; it left by no other interface.
      assert.ok(packets.length > 0, 'the connection attempt was seen on the link');
      for (const packet of packets) assert.equal(packet.interfaceName, tap, JSON.stringify(packet));

      // hostd started again: its tor opens the link's listeners once more, and the guest fetches the page again.
      await hostd.start();
      const back = await eventually(
        'the link carried by a new tor',
        async () => {
          const status = await hostd.mvctlJson<VerbOutput<'onion.status'>>(['onion', 'status']);
          return status.tor.bootstrap?.progress === 100 && status.tor.usedBy.includes(`onion-vm:${vm}`)
            ? status
            : undefined;
        },
        180_000,
      );
      assert.notEqual(back.tor.pid, torPid);
      assert.equal((await link()).transPort, onionLink.transPort);
      const fetched = await inGuest(
        `i=0; until timeout 30 wget -q -O - http://${service.onionAddress}/; do i=$((i+1)); [ $i -ge 10 ] && break; sleep 3; done`,
        420_000,
      );
      assert.ok(fetched.output.includes(web.body.trim()), `the page again: ${fetched.output}`);
    });

    it('takes the link, its rules and tor’s listeners away when the VM stops', async () => {
      console?.destroy();
      console = undefined;
      await hostd.mvctlJson(['vm', 'kill', vm]);
      assert.equal(await tapExists(), false);
      assert.deepEqual(await tablesOf(), []);
      assert.equal((await info()).onionLink, null);
      const status = await hostd.mvctlJson<VerbOutput<'onion.status'>>(['onion', 'status']);
      assert.ok(!status.tor.usedBy.includes(`onion-vm:${vm}`), JSON.stringify(status.tor.usedBy));
      // Started by hand (virsh), the stopped VM's definition names a TAP device that is gone, and libvirt refuses
      // rather than make one without the rules. Shown on a transient copy without its (discarded) volatile disk,
      // which libvirt would otherwise miss first.
      const stoppedXml = await client.domainGetXmlDesc(await client.domainLookupByName(vm));
      assert.match(stoppedXml, new RegExp(`<target dev=['"]${tap}['"] managed=['"]no['"]/>`));
      const copy = stoppedXml
        .replace(/<disk[\s\S]*?<\/disk>/g, '')
        .replace(/<uuid>[^<]*<\/uuid>/, '')
        .replace(`<name>${vm}</name>`, `<name>${vm}-copy</name>`);
      await assert.rejects(client.domainCreateXml(copy), /managed='no' but specified dev doesn't exist/);
      await hostd.mvctlJson(['vm', 'delete', vm]);
    });

    it('gives a Debian guest from the shipped app-onion its link from the command line; it fetches the onion page by name', async () => {
      const built = await hostd.mvctl(['image', 'build', 'debian', '--json']);
      assert.equal(built.code, 0, `${built.stdout}${built.stderr}`);
      await hostd.mvctlJson(['vm', 'create', debianVm, '--template', 'app-onion']);
      const started = await hostd.mvctl(['vm', 'start', debianVm]);
      assert.equal(started.code, 0, `${started.stdout}${started.stderr}\n${hostd.log}`);
      const running = await info(debianVm);
      assert.match(running.image, /^debian@/);
      const onionLink = await link(debianVm);
      const hostAddress = onionLink.hostAddress.replace(/\./g, '\\.');
      const peerAddress = onionLink.peerAddress.replace(/\./g, '\\.');

      const debianConsole = await client.domainOpenConsole(await client.domainLookupByName(debianVm), {
        flags: 1,
      });
      try {
        const inDebian = (commandLine: string, timeoutMs = 120_000) =>
          runConsoleCommand(debianConsole, commandLine, { timeoutMs });
        // networkd configures the link in the background of the boot: wait (bounded) until it says routable.
        // (networkctl needs D-Bus, which minbase has not; networkd's state files and /proc say the same.)
        const configured = await whenShellAnswers(
          debianConsole,
          'for i in $(seq 60); do grep -qs OPER_STATE=routable /run/systemd/netif/links/* && break; sleep 1; done; ' +
            'grep -h -E "^(ADMIN|OPER)_STATE=" /run/systemd/netif/links/*; echo "addresses: $(hostname -I)"; ' +
            'grep -E "^[^[:space:]]+[[:space:]]+00000000" /proc/net/route; ' +
            'cat /etc/resolv.conf; hostname; cat /etc/machine-id; ' +
            'echo "failed units: $(systemctl --failed --no-legend --plain | wc -l)"; ' +
            'echo "ipv6 off: $(cat /proc/sys/net/ipv6/conf/all/disable_ipv6) inet6: $(wc -l < /proc/net/if_inet6)"; ' +
            'echo "dpkg knows systemd: $(dpkg-query -W -f=\'${Status}\' systemd)"; ' +
            "echo \"network tools: $(dpkg-query -W -f='${Status} ${Package}\\n' isc-dhcp-client dhcpcd-base ifupdown " +
            "network-manager systemd-resolved systemd-timesyncd 2>/dev/null | grep -c ' installed ')\"",
          { attempts: 5, attemptTimeoutMs: 90_000 },
        );
        assert.equal(configured.exitCode, 0, configured.output);
        assert.match(configured.output, /^ADMIN_STATE=configured\s*$/m, configured.output);
        assert.match(configured.output, /^OPER_STATE=routable\s*$/m, configured.output);
        assert.match(configured.output, new RegExp(`^addresses: ${peerAddress}\\s*$`, 'm'));
        // /proc/net/route: the default route (destination 0) via the host side, in the kernel's byte order.
        const gatewayHex = onionLink.hostAddress
          .split('.')
          .reverse()
          .map((octet) => Number(octet).toString(16).padStart(2, '0'))
          .join('')
          .toUpperCase();
        assert.match(configured.output, new RegExp(`^\\S+\\s+00000000\\s+${gatewayHex}\\s`, 'm'));
        assert.match(configured.output, new RegExp(`^nameserver ${hostAddress}\\s*$`, 'm'));
        // The hostname is the VM's and the machine-id is made up at this boot, as in every Debian VM.
        assert.match(configured.output, new RegExp(`^${debianVm}\\s*$`, 'm'));
        assert.match(configured.output, /^[0-9a-f]{32}\s*$/m);
        assert.match(configured.output, /ipv6 off: 1 inet6: 0/);
        assert.match(configured.output, /^failed units: 0\s*$/m, 'multiverse-ipv4 and networkd ran cleanly');
        // (dpkg-query answers for an installed package, so a count of 0 below is not a failed query.)
        assert.match(configured.output, /^dpkg knows systemd: install ok installed\s*$/m);
        assert.match(configured.output, /^network tools: 0\s*$/m, 'no DHCP client, resolver or time daemon');
        // Through the whole boot the guest sent nothing the link dropped: no DHCP, no NTP, no IPv6 at all.
        const booted = await link(debianVm);
        assert.deepEqual(
          [booted.dropped.udp.packets, booted.dropped.ipv6.packets, booted.dropped.icmp.packets],
          [0, 0, 0],
          JSON.stringify(booted.dropped),
        );

        // glibc asks the nameserver in /etc/resolv.conf (tor's DNSPort) for the A record; bash's /dev/tcp
        // connects to the mapped address, which the TransPort takes to the onion service. Minbase has no wget.
        const resolved = await inDebian(`getent ahostsv4 ${service.onionAddress}`);
        assert.equal(resolved.exitCode, 0, resolved.output);
        const mapped = /^(10\.\d+\.\d+\.\d+)\s+STREAM/m.exec(resolved.output)?.[1];
        assert.ok(mapped && Number(mapped.split('.')[1]) >= 192, `a mapped address: ${resolved.output}`);
        const request = `exec 3<>/dev/tcp/$0/80 && printf "GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" "$1" >&3 && cat <&3`;
        const served = web.requests();
        const fetched = await inDebian(
          `i=0; until timeout 40 bash -c '${request}' ${mapped} ${service.onionAddress} > /tmp/page && ` +
            `grep -q 'hello from' /tmp/page; do i=$((i+1)); [ $i -ge 10 ] && break; sleep 3; done; cat /tmp/page`,
          600_000,
        );
        assert.ok(fetched.output.includes(web.body.trim()), `the page: ${fetched.output}`);
        assert.ok(web.requests() > served);

        // A UDP datagram to anywhere but the DNSPort goes nowhere and is counted.
        const probed = await inDebian(
          `echo probe > /dev/udp/${PROBE_TARGET}/9; echo probe > /dev/udp/${PROBE_TARGET}/123; true`,
        );
        assert.equal(probed.exitCode, 0, probed.output);
        const afterProbe = await link(debianVm);
        assert.ok(afterProbe.dropped.udp.packets >= 2, JSON.stringify(afterProbe.dropped));
      } finally {
        debianConsole.destroy();
      }
      await hostd.mvctlJson(['vm', 'kill', debianVm]);
      assert.equal(await tapExists(tapNameOf(debianVm)), false);
      assert.deepEqual(await tablesOf(tapNameOf(debianVm)), []);
      await hostd.mvctlJson(['vm', 'delete', debianVm]);
    });
  },
);
