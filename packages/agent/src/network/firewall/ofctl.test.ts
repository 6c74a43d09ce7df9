/**
 * The OpenFlow port firewall on real host objects: an Open vSwitch bridge on the userspace (`netdev`)
 * datapath, as the agent makes them on hosts without the kernel module; "guests" are network namespaces
 * joined by veths whose host ends stand for tap devices (the firewall adds them to the bridge with
 * their port numbers, as it does for a domain about to start); `o` is a plain OVS port (a non-VM port,
 * as DHCP and router ports are). Each refusal is paired with traffic that passes, so the test fails if
 * the firewall does nothing. Needs root, ovs-vswitchd, iproute2, ethtool, curl and busybox. Traffic
 * stays between the namespaces and bridge this test creates, which it removes, also on failure.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ExecError, run } from '../../host/exec.js';
import { deletePortFlows, ensurePortFlows, inspectPortFlows } from './ofctl.js';
import { portCookie } from './openflow.js';
import type { FirewallRule, PortFirewall } from './ruleset.js';

const BUSYBOX = '/bin/busybox';

async function whyskip(): Promise<string | false> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux';
  for (const bin of ['/usr/sbin/ip', '/usr/bin/ovs-vsctl', '/usr/bin/ovs-ofctl', '/usr/bin/curl', BUSYBOX])
    if (!existsSync(bin)) return `needs ${bin}`;
  try {
    await run('ovs-vsctl', ['--timeout=5', 'show']);
  } catch {
    return 'needs a running Open vSwitch (scripts/setup-host.sh starts it)';
  }
  return false;
}

interface Guest {
  name: string;
  ns: string;
  device: string;
  ip: string;
  port: PortFirewall;
}

test('OpenFlow port firewall: groups, remote groups, rule changes, anti-spoofing, no guest DHCP servers, drift', {
  skip: await whyskip(),
  timeout: 300_000,
}, async (t) => {
  const suffix = randomBytes(2).toString('hex');
  const bridge = `ofw${suffix}br`;
  const net = `10.${randomInt(0, 256)}.${randomInt(0, 256)}`;
  const work = await mkdtemp(join(tmpdir(), 'stratus-ofw-test-'));
  const guests: Guest[] = [];
  const namespaces: string[] = [];
  const group = randomUUID();

  t.after(async () => {
    for (const ns of namespaces) {
      const pids = await run('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean))
        await run('kill', ['-9', pid]).catch(() => {});
      await run('ip', ['netns', 'del', ns]).catch(() => {});
    }
    for (const d of [...guests.map((g) => g.device), `ofw${suffix}o`])
      await run('ip', ['link', 'del', d]).catch(() => {});
    await run('ovs-vsctl', ['--timeout=30', '--if-exists', 'del-br', bridge]).catch(() => {});
    await rm(work, { recursive: true, force: true });
  });

  await run('ovs-vsctl', [
    '--timeout=30',
    'add-br',
    bridge,
    '--',
    'set',
    'bridge',
    bridge,
    'datapath_type=netdev',
    'fail_mode=standalone',
  ]);

  /** A namespace with an httpd on a veth whose host end is `device` (not yet on the bridge). */
  async function namespace(name: string, device: string, ip: string, mac: string): Promise<string> {
    const ns = `ofw-${suffix}-${name}`;
    namespaces.push(ns);
    await run('ip', ['netns', 'add', ns]);
    await run('ip', [
      'link',
      'add',
      device,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
      'address',
      mac,
    ]);
    await run('ip', ['link', 'set', device, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    // The userspace datapath drops checksum offload metadata: the sender fills in its checksums.
    await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    const root = join(work, name);
    await run('mkdir', ['-p', root]);
    await writeFile(join(root, 'index.html'), `${name}\n`);
    await run('ip', ['netns', 'exec', ns, BUSYBOX, 'httpd', '-p', '80', '-h', root]);
    return ns;
  }

  const macOf = () => `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)?.join(':')}`;
  async function guest(name: string, host: number): Promise<Guest> {
    const mac = macOf();
    const device = `ofw${suffix}${name}`;
    const g: Guest = {
      name,
      ns: await namespace(name, device, `${net}.${host}`, mac),
      device,
      ip: `${net}.${host}`,
      port: {
        portId: randomUUID(),
        device,
        mark: 0x9000 + host,
        bridge,
        macAddress: mac,
        fixedIps: [`${net}.${host}`],
        rules: [],
        remoteGroups: {},
      },
    };
    guests.push(g);
    return g;
  }

  /** What namespace `from` gets over HTTP from `ip`, or null when refused or timed out. */
  async function http(from: string, ip: string, extra: string[] = []): Promise<string | null> {
    try {
      const { stdout } = await run(
        'ip',
        ['netns', 'exec', from, 'curl', '-sf', '-m', '3', ...extra, `http://${ip}/`],
        {
          timeoutMs: 30_000,
        },
      );
      return stdout.trim();
    } catch (e) {
      if (e instanceof ExecError) return null;
      throw e;
    }
  }

  const a = await guest('a', 11);
  const b = await guest('b', 12);
  const c = await guest('c', 13);
  // The outside: a plain port (no firewall), like the DHCP and router ports.
  const oIp = `${net}.200`;
  const o = await namespace('o', `ofw${suffix}o`, oIp, macOf());
  await run('ovs-vsctl', ['--timeout=30', 'add-port', bridge, `ofw${suffix}o`]);

  const anyEgress: FirewallRule = { direction: 'egress', protocol: 'any' };
  const defaultRules: FirewallRule[] = [
    { direction: 'ingress', protocol: 'any', remoteGroupId: group },
    anyEgress,
  ];
  const load = async (gs: Array<[Guest, FirewallRule[], Record<string, string[]>?]>) => {
    for (const [g, rules, remoteGroups] of gs)
      g.port = { ...g.port, rules, remoteGroups: remoteGroups ?? {} };
    await ensurePortFlows(gs.map(([g]) => g.port));
  };

  // The firewall adds each guest's port with its number (as before a domain starts).
  await load([
    [a, [anyEgress]],
    [b, [anyEgress]],
    [c, [anyEgress]],
  ]);
  for (const g of [a, b, c]) {
    const ofport = (await run('ovs-vsctl', ['get', 'interface', g.device, 'ofport'])).stdout.trim();
    assert.equal(Number(ofport), g.port.mark, `${g.name}'s OVS port has its requested number`);
  }
  // Egress-only firewalls: nothing reaches a guest, a guest reaches the outside.
  assert.equal(await http(a.ns, oIp), 'o');
  assert.equal(await http(o, a.ip), null);

  await t.test('default group: members reach each other, others are refused, egress works', async () => {
    const members = { [group]: [a.ip, b.ip] };
    await load([
      [a, defaultRules, members],
      [b, defaultRules, members],
      [
        c,
        [
          {
            direction: 'ingress',
            protocol: 'tcp',
            portRangeMin: 80,
            portRangeMax: 80,
            remoteIpPrefix: `${a.ip}/32`,
          },
          anyEgress,
        ],
      ],
    ]);
    assert.equal(await http(a.ns, b.ip), 'b');
    assert.equal(await http(b.ns, a.ip), 'a');
    assert.equal(await http(c.ns, a.ip), null, 'c is no member of the group');
    assert.equal(await http(o, a.ip), null, 'the outside is no member');
    assert.equal(await http(a.ns, c.ip), 'c', 'the CIDR rule lets a in');
    assert.equal(await http(b.ns, c.ip), null, "b is outside the rule's CIDR");
    assert.equal(await http(c.ns, oIp), 'o', 'egress anywhere');
  });

  await t.test('a remote-group rule follows membership; a deleted rule stops new connections', async () => {
    await load([
      [
        c,
        [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 80, remoteGroupId: group }, anyEgress],
        { [group]: [a.ip] },
      ],
    ]);
    assert.equal(await http(a.ns, c.ip), 'c');
    assert.equal(await http(b.ns, c.ip), null, 'b is no member yet');
    await load([[c, c.port.rules, { [group]: [a.ip, b.ip] }]]);
    assert.equal(await http(b.ns, c.ip), 'c', 'b joined');
    await load([[c, [anyEgress]]]);
    assert.equal(await http(a.ns, c.ip), null, 'the rule is gone');
  });

  await t.test('anti-spoofing: another address or MAC reaches no one', async () => {
    assert.equal(await http(a.ns, oIp), 'o');
    await run('ip', ['-n', a.ns, 'addr', 'add', `${net}.99/24`, 'dev', 'eth0']);
    assert.equal(await http(a.ns, oIp, ['--interface', `${net}.99`]), null, 'spoofed IP');
    await run('ip', ['-n', a.ns, 'addr', 'del', `${net}.99/24`, 'dev', 'eth0']);
    await run('ip', ['-n', a.ns, 'link', 'set', 'eth0', 'address', 'fa:16:3e:99:99:99']);
    assert.equal(await http(a.ns, oIp), null, 'spoofed MAC');
    await run('ip', ['-n', a.ns, 'link', 'set', 'eth0', 'address', a.port.macAddress]);
    assert.equal(await http(a.ns, oIp), 'o', 'its own addresses work again');
  });

  await t.test('a guest DHCP server answers no one, until its port is unguarded', async () => {
    const conf = join(work, 'udhcpd.conf');
    await writeFile(
      conf,
      `start ${net}.150\nend ${net}.159\ninterface eth0\nlease_file ${join(work, 'leases')}\nopt router ${net}.1\n`,
    );
    await writeFile(join(work, 'leases'), '');
    await run('ip', ['netns', 'exec', c.ns, BUSYBOX, 'udhcpd', conf]);
    const lease = async () => {
      const r = await run(
        'ip',
        [
          'netns',
          'exec',
          o,
          BUSYBOX,
          'udhcpc',
          '-f',
          '-q',
          '-n',
          '-i',
          'eth0',
          '-t',
          '3',
          '-T',
          '2',
          '-s',
          '/bin/true',
        ],
        {
          okCodes: [1],
        },
      );
      return /lease of .* obtained/.test(r.stdout + r.stderr);
    };
    assert.equal(await lease(), false, "c's offers are dropped at its port");
    await deletePortFlows(c.port.portId);
    assert.equal(await lease(), true, "unguarded, c's DHCP server answers");
    await load([[c, [anyEgress]]]);
  });

  await t.test(
    'drift: a wiped flow table shows per port; ensure repairs it; delete leaves nothing',
    async () => {
      const before = await inspectPortFlows();
      for (const g of [a, b, c]) assert.equal(before.problem(g.port.portId), null);
      await run('ovs-ofctl', ['del-flows', bridge]);
      const after = await inspectPortFlows();
      for (const g of [a, b, c]) assert.match(String(after.problem(g.port.portId)), /flushed or deleted/);
      assert.equal(await http(a.ns, b.ip), null, 'an empty flow table switches nothing');
      await ensurePortFlows([a.port, b.port, c.port]);
      const repaired = await inspectPortFlows();
      for (const g of [a, b, c]) assert.equal(repaired.problem(g.port.portId), null);
      assert.equal(await http(a.ns, b.ip), 'b');
      for (const g of [a, b, c]) await deletePortFlows(g.port.portId);
      const dump = (await run('ovs-ofctl', ['-O', 'OpenFlow14', 'dump-flows', bridge])).stdout;
      for (const g of [a, b, c])
        assert.ok(!dump.includes(portCookie(g.port.portId)), `${g.name}'s flows are gone`);
      // Their devices exist, so their OVS ports stay (a running guest keeps its link).
      assert.equal(await http(a.ns, b.ip), 'b', 'unguarded ports switch normally');
    },
  );
});
