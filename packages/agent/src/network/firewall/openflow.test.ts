import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import { parseDump } from './ofctl.js';
import { BASE_COOKIE, baseFlows, portCookie, portMasks, renderBundle, renderPortFlows } from './openflow.js';
import type { PortFirewall } from './ruleset.js';

const ID = '6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab';
const GROUP = '00000000-0000-4000-8000-00000000d0f1';
const at = { ofport: 0x8001, zone: 7 };

const port = (over: Partial<PortFirewall> = {}): PortFirewall => ({
  portId: ID,
  device: 'tap6f1c2d3e4a',
  mark: 0x8001,
  bridge: 'bro1234567890a',
  macAddress: 'fa:16:3e:00:00:01',
  fixedIps: ['10.0.0.5'],
  rules: [
    { direction: 'ingress', protocol: 'any', remoteGroupId: GROUP },
    { direction: 'egress', protocol: 'any' },
  ],
  remoteGroups: { [GROUP]: ['10.0.0.5', '10.0.0.6'] },
  ...over,
});

/** Decodes `v` or `v/mask` as OpenFlow matches it. */
function matches(block: string, n: number): boolean {
  const [v, m] = block.split('/');
  const value = Number(v);
  const mask = m === undefined ? 0xffff : Number(m);
  return (n & mask) === value;
}

test('portMasks: the blocks cover exactly the range, for edge and random ranges', () => {
  assert.deepEqual(portMasks(80, 80), ['80']);
  assert.deepEqual(portMasks(80, 83), ['0x50/0xfffc']);
  assert.deepEqual(portMasks(0, 65535), []);
  assert.deepEqual(portMasks(1024, 2047), ['0x400/0xfc00']);
  const ranges: Array<[number, number]> = [
    [0, 0],
    [65535, 65535],
    [1, 65535],
    [0, 65534],
    [1000, 1999],
  ];
  for (let i = 0; i < 30; i++) {
    const a = randomInt(0, 65536);
    const b = randomInt(0, 65536);
    ranges.push([Math.min(a, b), Math.max(a, b)]);
  }
  for (const [lo, hi] of ranges) {
    const blocks = portMasks(lo, hi);
    if (lo === 0 && hi === 65535) continue;
    // Sample the edges and random points inside and outside.
    const probes = [lo, hi, lo - 1, hi + 1, ...Array.from({ length: 50 }, () => randomInt(0, 65536))];
    for (const n of probes.filter((x) => x >= 0 && x <= 65535)) {
      const hits = blocks.filter((b) => matches(b, n)).length;
      assert.equal(hits, n >= lo && n <= hi ? 1 : 0, `${lo}..${hi} ${blocks.join(' ')} at ${n}`);
    }
    assert.ok(blocks.length <= 30, `${lo}..${hi}: ${blocks.length} blocks`);
  }
});

test('renderPortFlows: every flow carries the port cookie; anti-spoofing, conntrack zone, remote group expanded', () => {
  const flows = renderPortFlows(port(), at);
  const cookie = portCookie(ID);
  assert.equal(cookie, '0x6f1c2d3e4a5b4c6d');
  for (const f of flows) assert.match(f, new RegExp(`cookie=${cookie}[,\\s]`));
  assert.ok(
    flows.includes('table=0,priority=100,cookie=0x6f1c2d3e4a5b4c6d,in_port=32769 actions=resubmit(,71)'),
  );
  // Only the port's MAC with its IP enters conntrack (zone 7); a DHCP server reply is dropped.
  assert.ok(
    flows.some(
      (f) =>
        f.startsWith('table=71,priority=70,') &&
        f.includes('dl_src=fa:16:3e:00:00:01,ip,nw_src=10.0.0.5') &&
        f.endsWith('actions=ct(table=72,zone=7)'),
    ),
  );
  assert.ok(
    flows.some((f) => f.includes('table=71,priority=80') && f.includes('udp,tp_src=67 actions=drop')),
  );
  assert.ok(flows.some((f) => f.includes('arp,arp_sha=fa:16:3e:00:00:01,arp_spa=10.0.0.5')));
  // The remote group: one ingress flow per member, committed in the zone and delivered.
  const ingress = flows.filter((f) => f.startsWith('table=82,priority=50'));
  assert.deepEqual(
    ingress.map((f) => /nw_src=([\d.]+)/.exec(f)?.[1]),
    ['10.0.0.5', '10.0.0.6'],
  );
  for (const f of ingress)
    assert.match(f, /ct_state=\+new-est\+trk,ip,.* actions=ct\(commit,zone=7\),output:32769$/);
  // Egress anywhere: one flow with no peer.
  const egress = flows.filter((f) => f.startsWith('table=72,priority=50'));
  assert.deepEqual(egress, [
    'table=72,priority=50,cookie=0x6f1c2d3e4a5b4c6d,in_port=32769,ct_state=+new-est+trk,ip actions=resubmit(,73)',
  ]);
  // Frames for the port's MAC go to its ingress.
  assert.ok(flows.some((f) => f.includes('table=73,priority=100') && f.includes('dl_dst=fa:16:3e:00:00:01')));
});

test('renderPortFlows: protocols, port ranges, CIDRs, empty groups, allowed address pairs', () => {
  const flows = renderPortFlows(
    port({
      rules: [
        {
          direction: 'ingress',
          protocol: 'tcp',
          portRangeMin: 80,
          portRangeMax: 83,
          remoteIpPrefix: '10.9.0.0/16',
        },
        { direction: 'ingress', protocol: 'icmp', portRangeMin: 8, portRangeMax: 0 },
        { direction: 'ingress', protocol: 132 },
        { direction: 'egress', protocol: 'udp', portRangeMin: 53, remoteGroupId: GROUP },
      ],
      remoteGroups: { [GROUP]: [] },
      allowedAddressPairs: [{ ipAddress: '10.0.0.128/25', macAddress: 'fa:16:3e:00:00:02' }],
    }),
    at,
  );
  const rules = flows.filter((f) => /priority=50,/.test(f)).map((f) => f.replace(/^.*trk,/, ''));
  assert.deepEqual(rules, [
    'tcp,tp_dst=0x50/0xfffc,nw_src=10.9.0.0/16 actions=ct(commit,zone=7),output:32769',
    'icmp,icmp_type=8,icmp_code=0 actions=ct(commit,zone=7),output:32769',
    'ip,nw_proto=132 actions=ct(commit,zone=7),output:32769',
  ]);
  // The pair's MAC and CIDR may send; frames for its MAC reach the port's ingress.
  assert.ok(flows.some((f) => f.includes('dl_src=fa:16:3e:00:00:02,ip,nw_src=10.0.0.128/25')));
  assert.ok(flows.some((f) => f.includes('table=73') && f.includes('dl_dst=fa:16:3e:00:00:02')));
});

test('renderPortFlows: a port without an address sends only DHCP discovery and ARP probes', () => {
  const flows = renderPortFlows(port({ fixedIps: [], rules: [] }), at);
  assert.ok(!flows.some((f) => f.includes('ct(table=72')));
  assert.ok(flows.some((f) => f.includes('nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67')));
  assert.ok(flows.some((f) => f.includes('arp_spa=0.0.0.0')));
});

test('renderPortFlows: invalid values never reach a flow', () => {
  const bad: Array<[Partial<PortFirewall>, RegExp]> = [
    [{ portId: 'x' }, /invalid resource id/],
    [{ macAddress: 'fa:16:3e:00:00:0g' }, /invalid MAC/],
    [{ fixedIps: ['10.0.0.256'] }, /not an IPv4 address/],
    [
      { rules: [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 90, portRangeMax: 80 }] },
      /greater than/,
    ],
    [{ rules: [{ direction: 'ingress', protocol: 'any', remoteIpPrefix: '10.0.0.1/24' }] }, /host bits/],
    [{ rules: [{ direction: 'ingress', protocol: 'any', remoteGroupId: ID }] }, /no member list/],
    [{ rules: [{ direction: 'sideways' as 'ingress', protocol: 'any' }] }, /not ingress or egress/],
    [{ rules: [{ direction: 'ingress', protocol: 300 }] }, /0\.\.255/],
  ];
  for (const [over, re] of bad) assert.throws(() => renderPortFlows(port(over), at), re);
  assert.throws(() => renderPortFlows(port(), { ofport: 5, zone: 7 }), /OpenFlow port 5/);
  assert.throws(() => renderPortFlows(port(), { ofport: 0x8001, zone: 0 }), /conntrack zone/);
});

test('renderBundle: the bridge flows, then per port a delete by cookie before its flows', () => {
  const text = renderBundle(7, [{ p: port(), at }]);
  const lines = text.trim().split('\n');
  const base = baseFlows(7);
  assert.deepEqual(
    lines.slice(0, base.length),
    base.map((f) => `add ${f}`),
  );
  assert.equal(lines[base.length], `delete cookie=${portCookie(ID)}/-1`);
  assert.ok(lines.slice(base.length + 1).every((l) => l.startsWith('add ')));
  assert.ok(base.every((f) => f.includes(`cookie=${BASE_COOKIE}`)));
  assert.ok(base.some((f) => f.includes('ct(commit,zone=7),NORMAL')));
});

test('parseDump: tables by cookie and each port in_port, from ovs-ofctl output', () => {
  const d =
    parseDump(` cookie=0x6f1c2d3e4a5b4c6d, duration=1.5s, table=0, n_packets=0, n_bytes=0, priority=100,in_port=32769 actions=resubmit(,71)
 cookie=0x6f1c2d3e4a5b4c6d, duration=1.5s, table=82, n_packets=0, n_bytes=0, priority=10,reg5=0x8001 actions=drop
 cookie=0x5354524154530000, duration=1.5s, table=73, n_packets=3, n_bytes=180, priority=0 actions=NORMAL
 cookie=0x42, duration=1.5s, table=0, n_packets=3, n_bytes=180, priority=0 actions=NORMAL`);
  assert.deepEqual([...d.tables.get(portCookie(ID))!].sort(), [0, 82]);
  assert.equal(d.inPort.get(portCookie(ID)), 32769);
  assert.deepEqual([...d.tables.get(BASE_COOKIE)!], [73]);
  assert.ok(d.tables.has('0x0000000000000042'));
});
