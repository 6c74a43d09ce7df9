import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blockingLeases,
  dhcpPaths,
  dnsmasqArgs,
  hostsFileText,
  leaseLineKey,
  optsFileText,
  pruneLeases,
  releaseArgs,
  unusedLeases,
  validateDhcpSpec,
} from './dnsmasq-config.js';
import type { DhcpSpec } from './types.js';

const NET = '11111111-2222-4333-8444-555555555555';
const SUB_A = 'aaaaaaaa-0000-4000-8000-000000000001';
const SUB_B = 'bbbbbbbb-0000-4000-8000-000000000002';

function spec(): DhcpSpec {
  return {
    uplink: {
      description: 'test segment',
      ready: async () => true,
      isPlugged: async () => true,
      plug: async () => {},
    },
    networkId: NET,
    mtu: 1450,
    subnets: [
      { subnetId: SUB_B, cidr: '10.2.0.0/16', gatewayIp: null, dhcpServerIp: '10.2.0.2', dnsNameservers: [] },
      {
        subnetId: SUB_A,
        cidr: '10.1.0.0/24',
        gatewayIp: '10.1.0.1',
        dhcpServerIp: '10.1.0.2',
        dnsNameservers: ['10.1.0.53', '10.1.0.54'],
      },
    ],
    hosts: [
      { mac: 'FA:16:3E:00:00:02', ip: '10.2.0.10', hostname: '' },
      { mac: 'fa:16:3e:00:00:01', ip: '10.1.0.10', hostname: 'web-1' },
    ],
  };
}

test('dnsmasqArgs: static ranges per subnet, isolation flags, files in the state dir, sorted', () => {
  const paths = dhcpPaths('/var/lib/stratus', NET);
  assert.equal(paths.dir, `/var/lib/stratus/dhcp/${NET}`);
  const args = dnsmasqArgs(spec(), paths);
  for (const flag of [
    '--conf-file=/dev/null',
    '--no-hosts',
    '--no-resolv',
    '--port=0',
    '--bind-interfaces',
    '--interface=ns-11111111222',
    '--except-interface=lo',
    '--dhcp-authoritative',
    `--pid-file=${paths.pidFile}`,
    `--dhcp-hostsfile=${paths.hostsFile}`,
    `--dhcp-optsfile=${paths.optsFile}`,
    `--dhcp-leasefile=${paths.leaseFile}`,
    `--dhcp-lease-max=${254 + 65534}`,
  ]) {
    assert.ok(args.includes(flag), flag);
  }
  const ranges = args.filter((a) => a.startsWith('--dhcp-range='));
  assert.deepEqual(ranges, [
    `--dhcp-range=set:subnet-${SUB_A},10.1.0.0,static,255.255.255.0,3600s`,
    `--dhcp-range=set:subnet-${SUB_B},10.2.0.0,static,255.255.0.0,3600s`,
  ]);
  const reordered = { ...spec(), subnets: [...spec().subnets].reverse() };
  assert.deepEqual(dnsmasqArgs(reordered, paths), args);
});

test('hostsFileText: mac,ip[,hostname], lower-case MACs, sorted by address', () => {
  assert.equal(
    hostsFileText(spec().hosts),
    'fa:16:3e:00:00:01,10.1.0.10,web-1\nfa:16:3e:00:00:02,10.2.0.10\n',
  );
  assert.equal(hostsFileText([]), '');
});

test('optsFileText: router (empty when no gateway), DNS when given, MTU, per tag', () => {
  assert.equal(
    optsFileText(spec()),
    [
      `tag:subnet-${SUB_A},option:router,10.1.0.1`,
      `tag:subnet-${SUB_A},option:dns-server,10.1.0.53,10.1.0.54`,
      `tag:subnet-${SUB_A},option:mtu,1450`,
      `tag:subnet-${SUB_B},option:router`,
      `tag:subnet-${SUB_B},option:mtu,1450`,
      '',
    ].join('\n'),
  );
});

test("optsFileText: a subnet's own host route for 0.0.0.0/0 replaces the default route via the gateway (Neutron)", () => {
  const s = spec();
  s.subnets.find((x) => x.subnetId === SUB_A)!.hostRoutes = [
    { destination: '0.0.0.0/0', nexthop: '10.1.0.9' },
    { destination: '10.50.0.0/16', nexthop: '10.1.0.8' },
  ];
  validateDhcpSpec(s);
  const lines = optsFileText(s).split('\n');
  assert.ok(
    lines.includes(
      `tag:subnet-${SUB_A},option:classless-static-route,0.0.0.0/0,10.1.0.9,10.50.0.0/16,10.1.0.8`,
    ),
    lines.join('\n'),
  );
  assert.ok(lines.includes(`tag:subnet-${SUB_A},249,0.0.0.0/0,10.1.0.9,10.50.0.0/16,10.1.0.8`));
});

test('optsFileText: host routes as options 121 and 249, with the default route via the gateway (RFC 3442), none without a gateway', () => {
  const s = spec();
  for (const sub of s.subnets)
    sub.hostRoutes = [{ destination: '169.254.169.254/32', nexthop: sub.dhcpServerIp }];
  const lines = optsFileText(s).split('\n');
  assert.ok(
    lines.includes(
      `tag:subnet-${SUB_A},option:classless-static-route,169.254.169.254/32,10.1.0.2,0.0.0.0/0,10.1.0.1`,
    ),
  );
  assert.ok(lines.includes(`tag:subnet-${SUB_A},249,169.254.169.254/32,10.1.0.2,0.0.0.0/0,10.1.0.1`));
  assert.ok(lines.includes(`tag:subnet-${SUB_B},option:classless-static-route,169.254.169.254/32,10.2.0.2`));
  assert.ok(lines.includes(`tag:subnet-${SUB_B},249,169.254.169.254/32,10.2.0.2`));
  validateDhcpSpec({ ...s, metadataAddress: '169.254.169.254' });
  const bad = spec();
  bad.subnets[0]!.hostRoutes = [
    { destination: '169.254.169.254/24', nexthop: '10.2.0.2' },
    { destination: '0.0.0.0/0', nexthop: '10.9.0.1' },
  ];
  assert.throws(
    () => validateDhcpSpec({ ...bad, metadataAddress: 'x' }),
    (e: Error) =>
      /hostRoutes\[0\]\.destination: 169\.254\.169\.254\/24 is not a network/.test(e.message) &&
      /hostRoutes\[1\]\.nexthop: 10\.9\.0\.1 is not a host address/.test(e.message) &&
      /metadataAddress: x/.test(e.message),
  );
});

test('validateDhcpSpec accepts a good spec and reports every problem of a bad one', () => {
  validateDhcpSpec(spec());
  const bad = spec();
  bad.mtu = 1.5;
  bad.subnets.push({
    subnetId: SUB_A,
    cidr: '10.1.0.128/25',
    gatewayIp: 'x',
    dhcpServerIp: '10.1.0.255',
    dnsNameservers: ['nope'],
  });
  bad.hosts.push(
    { mac: 'fa:16:3e:00:00:01', ip: '10.1.0.10', hostname: '600' },
    { mac: '01:00:5e:00:00:01', ip: '192.168.0.1', hostname: 'a.b' },
    { mac: 'zz', ip: '10.1.0.2', hostname: 'ok\nx' },
  );
  assert.throws(
    () => validateDhcpSpec(bad),
    (e: Error) => {
      for (const want of [
        'mtu: 1.5',
        'subnets[2].subnetId',
        'subnets[2].dhcpServerIp',
        'subnets[2].gatewayIp',
        'subnets[2].dnsNameservers[0]',
        'subnets[2].cidr: overlaps 10.1.0.0/24',
        'hosts[2].mac: fa:16:3e:00:00:01 appears twice',
        'hosts[2].ip: 10.1.0.10 is already used',
        'hosts[2].hostname',
        'hosts[3].mac: 01:00:5e:00:00:01 is multicast',
        'hosts[3].ip',
        'hosts[3].hostname',
        'hosts[4].mac',
        'hosts[4].ip: 10.1.0.2 is already used',
        'hosts[4].hostname',
      ]) {
        assert.ok(e.message.includes(want), `missing ${JSON.stringify(want)} in:\n${e.message}`);
      }
      return true;
    },
  );
  assert.throws(() => validateDhcpSpec({ ...spec(), subnets: [], hosts: [] }), /subnets: empty/);
  assert.throws(() => validateDhcpSpec({ ...spec(), networkId: 'NET' }), /networkId/);
});

test('blockingLeases: only leases whose address now belongs to another MAC', () => {
  const leases = [
    '1700000000 fa:16:3e:00:00:01 10.1.0.10 web-1 01:fa:16:3e:00:00:01',
    '1700000000 fa:16:3e:00:00:09 10.2.0.10 old *',
    '1700000000 fa:16:3e:00:00:08 10.1.0.99 gone *',
    '',
  ].join('\n');
  const hosts = spec().hosts;
  assert.deepEqual(blockingLeases(leases, hosts), ['1700000000 fa:16:3e:00:00:09 10.2.0.10 old *']);
  assert.equal(
    pruneLeases(leases, hosts),
    '1700000000 fa:16:3e:00:00:01 10.1.0.10 web-1 01:fa:16:3e:00:00:01\n1700000000 fa:16:3e:00:00:08 10.1.0.99 gone *\n',
  );
  assert.deepEqual(blockingLeases('', hosts), []);
});

test('unusedLeases: every IPv4 lease of no configured host, blocking ones included (Neutron)', () => {
  const leases = [
    '1700000000 fa:16:3e:00:00:01 10.1.0.10 web-1 01:fa:16:3e:00:00:01',
    '1700000000 fa:16:3e:00:00:09 10.2.0.10 old *',
    '1700000000 fa:16:3e:00:00:08 10.1.0.99 gone *',
    'duid 00:01:00:01:2c:3d:4e:5f:fa:16:3e:00:00:01',
    '',
  ].join('\n');
  const hosts = spec().hosts;
  assert.deepEqual(unusedLeases(leases, hosts), [
    '1700000000 fa:16:3e:00:00:09 10.2.0.10 old *',
    '1700000000 fa:16:3e:00:00:08 10.1.0.99 gone *',
  ]);
  // A MAC in another case is the same host; a renewal keeps the key.
  assert.deepEqual(unusedLeases('1700000000 FA:16:3E:00:00:01 10.1.0.10 web-1 *\n', hosts), []);
  assert.equal(
    leaseLineKey('1800000000 FA:16:3E:00:00:08 10.1.0.99 gone *'),
    leaseLineKey('1700000000 fa:16:3e:00:00:08 10.1.0.99 gone *'),
  );
  assert.deepEqual(unusedLeases('', hosts), []);
});

test('releaseArgs: interface, address, MAC and the client id when the lease has one', () => {
  const dev = dnsmasqArgs(spec(), dhcpPaths('/s', NET))
    .find((a) => a.startsWith('--interface='))!
    .slice('--interface='.length);
  assert.deepEqual(releaseArgs(NET, '1700000000 fa:16:3e:00:00:09 10.2.0.10 old *'), [
    dev,
    '10.2.0.10',
    'fa:16:3e:00:00:09',
  ]);
  assert.deepEqual(releaseArgs(NET, '1700000000 FA:16:3E:00:00:01 10.1.0.10 web-1 01:fa:16:3e:00:00:01'), [
    dev,
    '10.1.0.10',
    'fa:16:3e:00:00:01',
    '01:fa:16:3e:00:00:01',
  ]);
  assert.equal(releaseArgs(NET, 'duid 00:01:00:01'), null);
  assert.equal(releaseArgs(NET, '1700000000 fa:16:3e:00:00:09 not-an-ip x *'), null);
});
