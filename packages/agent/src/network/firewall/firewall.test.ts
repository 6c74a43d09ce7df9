/**
 * The port firewall on real host objects: a bridge, three "guests" (network namespaces joined to the
 * bridge by veths, whose host ends stand for tap devices), busybox httpd and DHCP. Each check that
 * traffic is refused is paired with one where the same traffic passes, so the test fails if the
 * firewall does nothing. Needs root, iproute2, nft, curl and busybox (its static wget crashes here,
 * hence curl). Traffic stays between the namespaces and bridge this test creates, which it removes,
 * also on failure.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ExecError, run } from '../../host/exec.js';
import {
  deletePortFirewall,
  ensurePortFirewall,
  ensurePortFirewalls,
  listPortFirewalls,
  updateRemoteGroupMembers,
  updateRemoteGroupMembersMany,
} from './nft.js';
import type { FirewallRule, PortFirewall } from './ruleset.js';

const BUSYBOX = '/bin/busybox';

function whyskip(): string | false {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux';
  for (const bin of ['/usr/sbin/ip', '/usr/sbin/nft', '/usr/bin/curl', BUSYBOX])
    if (!existsSync(bin)) return `needs ${bin}`;
  return false;
}

interface Guest {
  name: string;
  ns: string;
  device: string;
  mac: string;
  ip: string;
  port: PortFirewall;
}

test('port firewall: security groups, remote groups, rule changes, anti-spoofing, no guest DHCP servers', {
  skip: whyskip(),
  timeout: 300_000,
}, async (t) => {
  const suffix = randomBytes(2).toString('hex');
  const bridge = `sgt${suffix}br`;
  const net = `10.${randomInt(0, 256)}.${randomInt(0, 256)}`;
  const work = await mkdtemp(join(tmpdir(), 'stratus-fw-test-'));
  const guests: Guest[] = [];
  const daemons: string[] = [];
  const groupDefault = randomUUID();

  t.after(async () => {
    for (const g of guests) await deletePortFirewall(g.port.portId).catch(() => {});
    for (const ns of daemons)
      await run('ip', ['netns', 'pids', ns]).then(
        async ({ stdout }) => {
          for (const pid of stdout.split(/\s+/).filter(Boolean))
            await run('kill', ['-9', pid]).catch(() => {});
        },
        () => {},
      );
    for (const g of guests) {
      await run('ip', ['netns', 'del', g.ns]).catch(() => {});
      await run('ip', ['link', 'del', g.device]).catch(() => {});
    }
    await run('ip', ['link', 'del', bridge]).catch(() => {});
    await rm(work, { recursive: true, force: true });
  });

  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await run('ip', ['link', 'set', bridge, 'up']);

  async function guest(name: string, host: number): Promise<Guest> {
    const mac = `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)?.join(':')}`;
    const g: Guest = {
      name,
      ns: `sgt-${suffix}-${name}`,
      device: `sgt${suffix}${name}`,
      mac,
      ip: `${net}.${host}`,
      port: {
        portId: randomUUID(),
        device: `sgt${suffix}${name}`,
        mark: 0xf000 + host,
        macAddress: mac,
        fixedIps: [`${net}.${host}`],
        rules: [],
        remoteGroups: {},
      },
    };
    guests.push(g);
    await run('ip', ['netns', 'add', g.ns]);
    await run('ip', [
      'link',
      'add',
      g.device,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      g.ns,
      'address',
      mac,
    ]);
    await run('ip', ['link', 'set', g.device, 'master', bridge, 'up']);
    await run('ip', ['-n', g.ns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', g.ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', g.ns, 'addr', 'add', `${g.ip}/24`, 'dev', 'eth0']);
    const root = join(work, name);
    await run('mkdir', ['-p', root]);
    await writeFile(join(root, 'index.html'), `${name}\n`);
    await run('ip', ['netns', 'exec', g.ns, BUSYBOX, 'httpd', '-p', '80', '-h', root]);
    daemons.push(g.ns);
    return g;
  }

  /** What `from` gets over HTTP from `to`'s address, or null when the connection is refused or times out. */
  async function http(from: Guest, to: Guest): Promise<string | null> {
    try {
      const { stdout } = await run(
        'ip',
        ['netns', 'exec', from.ns, 'curl', '-sf', '-m', '3', `http://${to.ip}/`],
        { timeoutMs: 30_000 },
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
  const anyEgress: FirewallRule = { direction: 'egress', protocol: 'any' };
  // Neutron's default group: ingress from members of the same group, egress anywhere.
  const defaultRules: FirewallRule[] = [
    { direction: 'ingress', protocol: 'any', remoteGroupId: groupDefault },
    anyEgress,
  ];
  const apply = async (g: Guest, rules: FirewallRule[], remoteGroups: Record<string, string[]> = {}) => {
    g.port = { ...g.port, rules, remoteGroups };
    await ensurePortFirewall(g.port);
  };

  // Without firewalls everything reaches everything: the refusals below are the firewall's doing.
  assert.equal(await http(a, b), 'b');
  assert.equal(await http(c, a), 'a');
  assert.equal(await http(b, c), 'c');

  await t.test('default group: members reach each other, others are refused, egress works', async () => {
    const members = { [groupDefault]: [a.ip, b.ip] };
    await apply(a, defaultRules, members);
    await apply(b, defaultRules, members);
    // c: a web group, tcp/80 from a's address only.
    await apply(c, [
      {
        direction: 'ingress',
        protocol: 'tcp',
        portRangeMin: 80,
        portRangeMax: 80,
        remoteIpPrefix: `${a.ip}/32`,
      },
      anyEgress,
    ]);
    assert.equal(await http(a, b), 'b');
    assert.equal(await http(b, a), 'a');
    assert.equal(await http(c, a), null, 'c is no member of the default group');
    assert.equal(await http(a, c), 'c', 'the CIDR rule lets a in (and a may send anywhere)');
    assert.equal(await http(b, c), null, "b is outside the rule's CIDR");
    const tables = await listPortFirewalls();
    for (const g of [a, b, c])
      assert.deepEqual([...(tables.get(g.port.portId) ?? [])].sort(), ['bridge', 'inet']);
  });

  await t.test('a remote-group rule admits exactly the members, and follows membership changes', async () => {
    await apply(
      c,
      [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 80, remoteGroupId: groupDefault }, anyEgress],
      {
        [groupDefault]: [a.ip, b.ip],
      },
    );
    assert.equal(await http(b, c), 'c');
    assert.equal(await http(a, c), 'c');
    await updateRemoteGroupMembers(c.port.portId, groupDefault, [a.ip]);
    assert.equal(await http(b, c), null, 'b left the group');
    assert.equal(await http(a, c), 'c');
    await updateRemoteGroupMembers(c.port.portId, groupDefault, [a.ip, b.ip]);
    assert.equal(await http(b, c), 'c', 'b is back');
  });

  await t.test('batched: several firewalls and member updates in one transaction, all or none', async () => {
    a.port = { ...a.port, rules: defaultRules, remoteGroups: { [groupDefault]: [a.ip] } };
    b.port = { ...b.port, rules: defaultRules, remoteGroups: { [groupDefault]: [a.ip] } };
    await ensurePortFirewalls([a.port, b.port]);
    assert.equal(await http(b, a), null, 'b is not in the member set of a');
    assert.equal(await http(a, b), 'b');
    const both = [a.ip, b.ip];
    await updateRemoteGroupMembersMany([
      { portId: a.port.portId, groupId: groupDefault, members: both },
      { portId: b.port.portId, groupId: groupDefault, members: both },
    ]);
    assert.equal(await http(b, a), 'a', 'b joined both sets in one transaction');
    // One update naming a port without a table spoils the transaction: nothing of it is applied.
    await assert.rejects(
      updateRemoteGroupMembersMany([
        { portId: a.port.portId, groupId: groupDefault, members: [a.ip] },
        { portId: randomUUID(), groupId: groupDefault, members: [a.ip] },
      ]),
      ExecError,
    );
    assert.equal(await http(b, a), 'a', 'the failed transaction left the set of a as it was');
    a.port = { ...a.port, remoteGroups: { [groupDefault]: both } };
    b.port = { ...b.port, remoteGroups: { [groupDefault]: both } };
  });

  await t.test(
    'deleting the rule stops new connections; a port-range rule elsewhere does not match',
    async () => {
      await apply(c, [
        { direction: 'ingress', protocol: 'tcp', portRangeMin: 81, portRangeMax: 90 },
        anyEgress,
      ]);
      assert.equal(await http(a, c), null);
      await apply(c, [anyEgress]);
      assert.equal(await http(a, c), null);
      await apply(c, [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 80 }, anyEgress]);
      assert.equal(await http(b, c), 'c', 'tcp/80 from anywhere');
    },
  );

  await t.test('a guest that changes its address or MAC reaches no one', async () => {
    // b admits anyone on tcp/80, so only anti-spoofing can refuse a.
    await apply(b, [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 80 }, anyEgress]);
    assert.equal(await http(a, b), 'b');
    await run('ip', ['-n', a.ns, 'addr', 'flush', 'dev', 'eth0']);
    await run('ip', ['-n', a.ns, 'addr', 'add', `${net}.99/24`, 'dev', 'eth0']);
    assert.equal(await http(a, b), null, 'spoofed address');
    await run('ip', ['-n', a.ns, 'addr', 'flush', 'dev', 'eth0']);
    await run('ip', ['-n', a.ns, 'addr', 'add', `${a.ip}/24`, 'dev', 'eth0']);
    assert.equal(await http(a, b), 'b');
    await run('ip', ['-n', a.ns, 'link', 'set', 'eth0', 'address', 'fa:16:3e:00:00:99']);
    assert.equal(await http(a, b), null, 'spoofed MAC');
    await run('ip', ['-n', a.ns, 'link', 'set', 'eth0', 'address', a.mac]);
    assert.equal(await http(a, b), 'b');
    // An allowed address pair lets a use a second address (e.g. a VIP).
    a.port = { ...a.port, allowedAddressPairs: [{ ipAddress: `${net}.99` }] };
    await ensurePortFirewall(a.port);
    await run('ip', ['-n', a.ns, 'addr', 'flush', 'dev', 'eth0']);
    await run('ip', ['-n', a.ns, 'addr', 'add', `${net}.99/24`, 'dev', 'eth0']);
    assert.equal(await http(a, b), 'b', 'allowed address pair');
    await run('ip', ['-n', a.ns, 'addr', 'flush', 'dev', 'eth0']);
    await run('ip', ['-n', a.ns, 'addr', 'add', `${a.ip}/24`, 'dev', 'eth0']);
  });

  await t.test("a guest running a DHCP server cannot answer another guest's discovery", async () => {
    const conf = join(work, 'udhcpd.conf');
    await writeFile(
      conf,
      [`start ${net}.100`, `end ${net}.110`, 'interface eth0', `lease_file ${join(work, 'leases')}`, ''].join(
        '\n',
      ),
    );
    await writeFile(join(work, 'leases'), '');
    const script = join(work, 'udhcpc.sh');
    await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && echo "LEASE $ip"\nexit 0\n', { mode: 0o755 });
    await run('ip', ['netns', 'exec', a.ns, BUSYBOX, 'udhcpd', conf]);
    const discover = async (): Promise<boolean> => {
      try {
        const { stdout } = await run(
          'ip',
          [
            'netns',
            'exec',
            b.ns,
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
            '1',
            '-s',
            script,
          ],
          { timeoutMs: 60_000 },
        );
        return stdout.includes('LEASE');
      } catch (e) {
        if (e instanceof ExecError) return false;
        throw e;
      }
    };
    assert.equal(await discover(), false, "a's DHCP offers are dropped at its port");
    await deletePortFirewall(a.port.portId);
    assert.equal(await discover(), true, 'without the firewall the rogue server answers');
    await run('ip', ['-n', b.ns, 'addr', 'flush', 'dev', 'eth0']);
    await run('ip', ['-n', b.ns, 'addr', 'add', `${b.ip}/24`, 'dev', 'eth0']);
  });

  await t.test('deleting a port removes exactly its tables', async () => {
    for (const g of guests) await deletePortFirewall(g.port.portId);
    await deletePortFirewall(a.port.portId); // already gone: still succeeds
    const tables = await listPortFirewalls();
    for (const g of guests) assert.equal(tables.has(g.port.portId), false);
    assert.equal(await http(c, a), 'a');
  });
});
