/**
 * End-to-end test of the bridge and DHCP driver on real host objects: a bridge, the DHCP namespace with
 * dnsmasq, and DHCP clients (busybox udhcpc) in namespaces of their own. Needs root, iproute2, dnsmasq
 * and busybox. Traffic stays between the namespaces and bridge this test creates.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../host/exec.js';
import { bridgeName, dhcpHostVeth, dhcpNamespace, dhcpNsVeth } from '../../host/names.js';
import { getRootLink, listNamespaces } from '../iplink.js';
import { bridgeExists, deleteBridge, ensureBridge, listStratusBridges } from '../linuxbridge/bridge.js';
import { linuxBridgeUplink } from '../linuxbridge/driver.js';
import { deleteDhcp, dhcpStatus, ensureDhcp, reloadDhcpHosts } from './dhcp.js';
import { dhcpPaths } from './dnsmasq-config.js';
import { findDnsmasq, processArgv } from './proc.js';
import type { DhcpHost, DhcpSpec } from './types.js';

const BUSYBOX = '/bin/busybox';

function whyskip(): string | false {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux';
  for (const bin of ['/usr/sbin/dnsmasq', '/usr/sbin/ip', BUSYBOX])
    if (!existsSync(bin)) return `needs ${bin}`;
  return false;
}

// udhcpc runs this on every event; on a lease it configures the address and prints what it was offered.
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew)
    ${BUSYBOX} ip addr add "$ip/$mask" dev "$interface"
    echo "LEASE ip=$ip mask=$mask router=$router dns=$dns mtu=$mtu hostname=$hostname"
    ;;
esac
exit 0
`;

interface Client {
  ns: string;
  hostEnd: string;
}

interface Lease {
  ip: string;
  mask: string;
  router: string;
  dns: string;
  mtu: string;
  hostname: string;
}

const randomMac = (): string =>
  ['fa', '16', '3e', ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0'))].join(':');

test('bridge + dnsmasq: static leases only, SIGHUP reload, lease pruning, revival, full cleanup', {
  skip: whyskip(),
  // Every wait below is for an event with its own limit; this only bounds a hang.
  timeout: 1_800_000,
}, async (t) => {
  const networkId = randomUUID();
  const suffix = randomBytes(3).toString('hex');
  const work = await mkdtemp(join(tmpdir(), 'stratus-dhcp-test-'));
  // dnsmasq re-reads its files as an unprivileged user, so the state dir must be traversable.
  await chmod(work, 0o755);
  const stateDir = join(work, 'state');
  await mkdir(stateDir, { mode: 0o755 });
  const script = join(work, 'udhcpc.sh');
  await writeFile(script, UDHCPC_SCRIPT, { mode: 0o755 });
  const clients: Client[] = [];
  const paths = dhcpPaths(stateDir, networkId);

  const net = `10.${randomInt(0, 256)}.${randomInt(0, 256)}`;
  const cidr = `${net}.0/24`;
  const serverIp = `${net}.2`;
  const mtu = 1400;
  const subnetId = randomUUID();
  const mac1 = randomMac();
  const mac2 = randomMac();
  const mac3 = randomMac();
  const spec = (hosts: DhcpHost[]): DhcpSpec => ({
    networkId,
    uplink: linuxBridgeUplink(bridgeName(networkId), networkId),
    mtu,
    subnets: [
      { subnetId, cidr, gatewayIp: `${net}.1`, dhcpServerIp: serverIp, dnsNameservers: [`${net}.53`] },
    ],
    hosts,
  });

  async function makeClient(tag: string, mac: string): Promise<Client> {
    const c = { ns: `stest-${suffix}-${tag}`, hostEnd: `tst${suffix}${tag}` };
    clients.push(c);
    await run('ip', ['netns', 'add', c.ns]);
    await run('ip', [
      'link',
      'add',
      c.hostEnd,
      'type',
      'veth',
      'peer',
      'name',
      'c0',
      'netns',
      c.ns,
      'address',
      mac,
    ]);
    await run('ip', ['link', 'set', 'dev', c.hostEnd, 'master', bridgeName(networkId), 'up']);
    await run('ip', ['-n', c.ns, 'link', 'set', 'dev', 'lo', 'up']);
    await run('ip', ['-n', c.ns, 'link', 'set', 'dev', 'c0', 'up']);
    return c;
  }

  async function setMac(c: Client, mac: string): Promise<void> {
    await run('ip', ['-n', c.ns, 'link', 'set', 'dev', 'c0', 'down']);
    await run('ip', ['-n', c.ns, 'link', 'set', 'dev', 'c0', 'address', mac, 'up']);
  }

  /**
   * Runs a DHCP client in `c`'s namespace; the lease it obtained, or null when it got none. It sends up
   * to `tries` DISCOVERs 2 s apart and returns as soon as it has a lease: the default gives a busy
   * host's dnsmasq two minutes to answer.
   */
  async function dhcp(c: Client, tries = 60): Promise<Lease | null> {
    await run('ip', ['-n', c.ns, 'addr', 'flush', 'dev', 'c0']);
    const args = [
      'netns',
      'exec',
      c.ns,
      BUSYBOX,
      'udhcpc',
      '-f',
      '-i',
      'c0',
      '-n',
      '-q',
      '-t',
      String(tries),
      '-T',
      '2',
    ];
    const r = await run('ip', [...args, '-O', 'mtu', '-s', script], {
      okCodes: [1],
      timeoutMs: tries * 2_000 + 120_000,
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('LEASE '));
    if (!line) return null;
    return Object.fromEntries(
      line
        .slice(6)
        .split(' ')
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    ) as unknown as Lease;
  }

  // Steps run strictly in sequence (no subtests), so that even when a test is ended early by an uncaught
  // error nothing of it keeps running concurrently with the cleanup in `finally`.
  async function step(name: string, fn: () => Promise<void>): Promise<void> {
    t.diagnostic(`step: ${name}`);
    try {
      await fn();
    } catch (e) {
      if (e instanceof Error) e.message = `${name}: ${e.message}`;
      throw e;
    }
  }

  const reloads = async (): Promise<number> =>
    ((await readFile(paths.logFile, 'utf8')).match(/read .*\/hosts$/gm) ?? []).length;

  /** Waits for `cond`, checked every 50 ms, failing after `ms` (far above a busy host's slowest case). */
  async function waitFor(what: string, cond: () => Promise<boolean>, ms = 120_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
      await sleep(50);
    }
  }

  try {
    await step('bridge is created, tagged and idempotent', async () => {
      await ensureBridge(networkId, mtu);
      await ensureBridge(networkId, mtu);
      assert.ok(await bridgeExists(networkId));
      const link = await getRootLink(bridgeName(networkId));
      assert.equal(link?.mtu, mtu);
      assert.equal(link?.ifalias, `stratus:network:${networkId}`);
      assert.ok(link?.flags.includes('UP'));
      assert.deepEqual(
        (await listStratusBridges()).filter((b) => b.networkId === networkId),
        [{ name: bridgeName(networkId), networkId }],
      );
    });

    let pid = 0;
    await step(
      'ensureDhcp builds namespace, veth, address and dnsmasq; second call changes nothing',
      async () => {
        await ensureDhcp(spec([{ mac: mac1, ip: `${net}.10`, hostname: 'vm-one' }]), stateDir);
        const status = await dhcpStatus(networkId, stateDir);
        assert.equal(status.namespace, true);
        assert.ok(status.dnsmasqPid !== null);
        pid = status.dnsmasqPid;
        const host = await getRootLink(dhcpHostVeth(networkId));
        assert.equal(host?.master, bridgeName(networkId));
        const addrs = await run('ip', [
          '-n',
          dhcpNamespace(networkId),
          '-br',
          'addr',
          'show',
          'dev',
          dhcpNsVeth(networkId),
        ]);
        assert.match(addrs.stdout, new RegExp(`${serverIp.replace(/\./g, '\\.')}/24`));
        const before = await reloads();
        await ensureDhcp(spec([{ mac: mac1, ip: `${net}.10`, hostname: 'vm-one' }]), stateDir);
        assert.equal((await dhcpStatus(networkId, stateDir)).dnsmasqPid, pid, 'no restart');
        assert.equal(await reloads(), before, 'no reload when nothing changed');
      },
    );

    const a = await makeClient('a', mac1);
    const b = await makeClient('b', mac2);

    await step('a known MAC gets exactly its static lease with router, DNS and MTU', async () => {
      const lease = await dhcp(a);
      assert.deepEqual(lease, {
        ip: `${net}.10`,
        mask: '24',
        router: `${net}.1`,
        dns: `${net}.53`,
        mtu: String(mtu),
        hostname: 'vm-one',
      });
    });

    await step('an unknown MAC gets no lease', async () => {
      // A few DISCOVERs are enough: the refusal is an event in dnsmasq's log, waited for below, so a
      // slow server cannot pass this step by not answering in time.
      assert.equal(await dhcp(b, 3), null);
      const unknown = new RegExp(`DHCPDISCOVER\\(\\S+\\) ${mac2} no address available`);
      await waitFor(`dnsmasq to refuse ${mac2}`, async () =>
        unknown.test(await readFile(paths.logFile, 'utf8')),
      );
      assert.doesNotMatch(await readFile(paths.logFile, 'utf8'), new RegExp(`DHCPOFFER.*${mac2}`));
    });

    await step('the DHCP server answers ping from the client namespace', async () => {
      // One echo, waited for up to 60 s: the reply is the event.
      await run('ip', ['netns', 'exec', a.ns, BUSYBOX, 'ping', '-c', '1', '-W', '60', serverIp], {
        timeoutMs: 120_000,
      });
    });

    await step(
      'adding a host reloads dnsmasq by SIGHUP (same pid) and the new host gets its lease',
      async () => {
        const before = await reloads();
        await ensureDhcp(
          spec([
            { mac: mac1, ip: `${net}.10`, hostname: 'vm-one' },
            { mac: mac2, ip: `${net}.11`, hostname: 'vm-two' },
          ]),
          stateDir,
        );
        assert.equal((await dhcpStatus(networkId, stateDir)).dnsmasqPid, pid, 'pid unchanged');
        await waitFor('dnsmasq to re-read its hosts file', async () => (await reloads()) > before);
        assert.equal((await dhcp(b))?.ip, `${net}.11`);
      },
    );

    await step(
      'an address moved to another MAC: the stale lease is released (dhcp_release), dnsmasq keeps its pid, the new MAC gets it',
      async () => {
        assert.match(await readFile(paths.leaseFile, 'utf8'), new RegExp(`${mac1} ${net}\\.10 `));
        await reloadDhcpHosts(
          spec([
            { mac: mac2, ip: `${net}.11`, hostname: 'vm-two' },
            { mac: mac3, ip: `${net}.10`, hostname: 'vm-three' },
          ]),
          stateDir,
        );
        assert.equal((await dhcpStatus(networkId, stateDir)).dnsmasqPid, pid, 'not restarted');
        assert.doesNotMatch(await readFile(paths.leaseFile, 'utf8'), new RegExp(mac1), 'lease released');
        await setMac(a, mac3);
        assert.equal((await dhcp(a))?.ip, `${net}.10`);
      },
    );

    await step('a new host through reloadDhcpHosts: SIGHUP, same pid', async () => {
      const before = await reloads();
      await reloadDhcpHosts(
        spec([
          { mac: mac2, ip: `${net}.11`, hostname: 'vm-two' },
          { mac: mac3, ip: `${net}.10`, hostname: 'vm-three' },
          { mac: randomMac(), ip: `${net}.12`, hostname: 'vm-four' },
        ]),
        stateDir,
      );
      assert.equal((await dhcpStatus(networkId, stateDir)).dnsmasqPid, pid, 'pid unchanged');
      for (let i = 0; i < 40 && (await reloads()) === before; i++) await sleep(50);
      assert.ok((await reloads()) > before, 'dnsmasq re-read its hosts file');
    });

    await step(
      "a host removed: its lease is released at once (Neutron's unused leases), dnsmasq keeps its pid",
      async () => {
        assert.match(await readFile(paths.leaseFile, 'utf8'), new RegExp(`${mac2} ${net}\\.11 `));
        await reloadDhcpHosts(spec([{ mac: mac3, ip: `${net}.10`, hostname: 'vm-three' }]), stateDir);
        assert.equal((await dhcpStatus(networkId, stateDir)).dnsmasqPid, pid, 'not restarted');
        assert.doesNotMatch(await readFile(paths.leaseFile, 'utf8'), new RegExp(mac2), 'lease released');
      },
    );

    await step('a killed dnsmasq is revived by ensureDhcp', async () => {
      process.kill(pid, 'SIGKILL');
      await waitFor(`killed dnsmasq ${pid} to be gone`, async () => (await processArgv(pid)) === null);
      assert.equal((await dhcpStatus(networkId, stateDir)).dnsmasqPid, null);
      await ensureDhcp(
        spec([
          { mac: mac2, ip: `${net}.11`, hostname: 'vm-two' },
          { mac: mac3, ip: `${net}.10`, hostname: 'vm-three' },
        ]),
        stateDir,
      );
      const revived = (await dhcpStatus(networkId, stateDir)).dnsmasqPid;
      assert.ok(revived !== null && revived !== pid);
      pid = revived;
      assert.equal((await dhcp(b))?.ip, `${net}.11`);
    });

    await step('a namespace deleted behind our back is rebuilt, with dnsmasq moved into it', async () => {
      await run('ip', ['netns', 'del', dhcpNamespace(networkId)]);
      await ensureDhcp(
        spec([
          { mac: mac2, ip: `${net}.11`, hostname: 'vm-two' },
          { mac: mac3, ip: `${net}.10`, hostname: 'vm-three' },
        ]),
        stateDir,
      );
      const status = await dhcpStatus(networkId, stateDir);
      assert.ok(status.namespace && status.dnsmasqPid !== null && status.dnsmasqPid !== pid);
      assert.equal(await processArgv(pid), null, 'the stranded dnsmasq was stopped');
      assert.equal((await dhcp(b))?.ip, `${net}.11`);
    });

    await step('deleteDhcp and deleteBridge leave nothing behind and are idempotent', async () => {
      await deleteDhcp(networkId, stateDir);
      await deleteBridge(networkId);
      await deleteDhcp(networkId, stateDir);
      await deleteBridge(networkId);
      assert.ok(!(await listNamespaces()).includes(dhcpNamespace(networkId)), 'namespace gone');
      assert.equal(await getRootLink(dhcpHostVeth(networkId)), null, 'veth gone');
      assert.equal(await bridgeExists(networkId), false, 'bridge gone');
      assert.deepEqual(await findDnsmasq(`--interface=${dhcpNsVeth(networkId)}`), [], 'no dnsmasq left');
      assert.equal(existsSync(paths.dir), false, 'state files gone');
      assert.deepEqual(await dhcpStatus(networkId, stateDir), { namespace: false, dnsmasqPid: null });
    });
  } finally {
    // Runs also when a step failed: remove every host object this test may have created.
    for (const c of clients) await run('ip', ['netns', 'del', c.ns]).catch(() => {});
    for (const c of clients) await run('ip', ['link', 'del', 'dev', c.hostEnd]).catch(() => {});
    await deleteDhcp(networkId, stateDir).catch((e) => t.diagnostic(`cleanup deleteDhcp: ${e}`));
    await deleteBridge(networkId).catch((e) => t.diagnostic(`cleanup deleteBridge: ${e}`));
    await rm(work, { recursive: true, force: true });
  }
});
