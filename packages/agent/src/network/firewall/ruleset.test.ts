import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { run } from '../../host/exec.js';
import { type FirewallRule, type PortFirewall, renderMemberUpdate, renderPortFirewall } from './ruleset.js';

const group = randomUUID();
const base = (): PortFirewall => ({
  portId: randomUUID(),
  device: 'tap0123456789a0',
  mark: 7,
  macAddress: 'fa:16:3e:00:00:01',
  fixedIps: ['10.0.0.5'],
  rules: [],
  remoteGroups: {},
});

test('rules render as nft statements in the chain of their direction', () => {
  const rules: FirewallRule[] = [
    { direction: 'ingress', protocol: 'tcp', portRangeMin: 22 },
    {
      direction: 'ingress',
      protocol: 'tcp',
      portRangeMin: 8000,
      portRangeMax: 8080,
      remoteIpPrefix: '192.168.0.0/16',
    },
    { direction: 'ingress', protocol: 'icmp', portRangeMin: 8, portRangeMax: 0 },
    { direction: 'ingress', protocol: 'udp', remoteGroupId: group },
    { direction: 'ingress', protocol: 47 },
    { direction: 'egress', protocol: 'any', remoteIpPrefix: '0.0.0.0/0' },
  ];
  const s = renderPortFirewall({ ...base(), rules, remoteGroups: { [group]: ['10.0.0.6', '10.0.0.7'] } });
  const inet = s.slice(s.indexOf('table inet'));
  const to = inet.slice(inet.indexOf('chain to_port'), inet.indexOf('chain from_port'));
  const from = inet.slice(inet.indexOf('chain from_port'));
  assert.match(to, /^ {4}tcp dport 22 accept$/m);
  assert.match(to, /^ {4}ip saddr 192\.168\.0\.0\/16 tcp dport 8000-8080 accept$/m);
  assert.match(to, /^ {4}meta l4proto icmp icmp type 8 icmp code 0 accept$/m);
  assert.match(to, new RegExp(`^ {4}ip saddr @rg-${group} meta l4proto udp accept$`, 'm'));
  assert.match(to, /^ {4}meta l4proto 47 accept$/m);
  assert.match(from, /^ {4}meta nfproto ipv4 accept$/m);
  assert.match(s, /elements = \{ 10\.0\.0\.6, 10\.0\.0\.7 \}/);
  // Marks: the port's number in the high half from it, in the low half to it.
  assert.match(s, /meta mark set meta mark & 0x0000ffff \| 0x00070000/);
  assert.match(s, /oifname "tap0123456789a0" meta mark set meta mark & 0xffff0000 \| 0x00000007/);
  assert.match(
    renderMemberUpdate(base().portId, group, []),
    /^flush set inet stratus-port-[0-9a-f-]+ rg-[0-9a-f-]+\n$/,
  );
});

test('nothing unvalidated reaches the script', () => {
  const bad: [string, Partial<PortFirewall>][] = [
    ['device', { device: 'tap0"; flush ruleset' }],
    ['device', { device: 'tap01234567890123' }],
    ['MAC', { macAddress: 'FA:16:3E:00:00:01' }],
    ['fixed IP', { fixedIps: ['10.0.0.256'] }],
    ['allowed address pair', { allowedAddressPairs: [{ ipAddress: '10.0.0.1/24' }] }],
    ['mark', { mark: 0 }],
    ['mark', { mark: 65536 }],
    ['resource id', { portId: 'not-a-uuid' }],
  ];
  for (const [what, patch] of bad)
    assert.throws(() => renderPortFirewall({ ...base(), ...patch }), new RegExp(what, 'i'), what);
  const badRules: [string, FirewallRule][] = [
    ['greater than', { direction: 'ingress', protocol: 'tcp', portRangeMin: 90, portRangeMax: 80 }],
    ['outside 0..65535', { direction: 'ingress', protocol: 'tcp', portRangeMin: 70000 }],
    ['outside 0..255', { direction: 'ingress', protocol: 'icmp', portRangeMin: 256 }],
    [
      'not both',
      { direction: 'ingress', protocol: 'tcp', remoteIpPrefix: '10.0.0.0/8', remoteGroupId: group },
    ],
    ['no member list', { direction: 'ingress', protocol: 'tcp', remoteGroupId: group }],
    ['host bits', { direction: 'egress', protocol: 'any', remoteIpPrefix: '10.0.0.1/8' }],
    ['0..255', { direction: 'egress', protocol: 300 }],
    ['ingress or egress', { direction: 'sideways' as 'ingress', protocol: 'any' }],
  ];
  for (const [what, rule] of badRules)
    assert.throws(() => renderPortFirewall({ ...base(), rules: [rule] }), new RegExp(what), what);
});

const nftSkip =
  process.getuid?.() !== 0 || !existsSync('/usr/sbin/nft') ? 'needs root and /usr/sbin/nft' : false;

test('nft accepts every rendered ruleset (checked with nft -c, nothing loaded)', {
  skip: nftSkip,
}, async () => {
  const protocols: FirewallRule['protocol'][] = ['tcp', 'udp', 'icmp', 'any', 0, 6, 132, 255];
  const rules: FirewallRule[] = [];
  for (const protocol of protocols)
    for (const direction of ['ingress', 'egress'] as const) {
      rules.push({ direction, protocol });
      rules.push({ direction, protocol, remoteIpPrefix: '172.16.0.0/12' });
      rules.push({ direction, protocol, remoteGroupId: group });
      if (protocol === 'tcp' || protocol === 'udp' || protocol === 'icmp')
        rules.push({ direction, protocol, portRangeMin: 0, portRangeMax: protocol === 'icmp' ? 255 : 65535 });
    }
  const ports: PortFirewall[] = [
    { ...base(), rules, remoteGroups: { [group]: ['10.0.0.0/24', '10.0.0.5', '10.0.1.9'] } },
    { ...base(), fixedIps: [], rules: [], remoteGroups: {} },
    {
      ...base(),
      fixedIps: ['10.0.0.5', '10.0.1.5'],
      allowedAddressPairs: [
        { ipAddress: '10.0.2.0/24', macAddress: 'fa:16:3e:aa:bb:cc' },
        { ipAddress: '10.9.9.9' },
      ],
      rules: [{ direction: 'ingress', protocol: 'tcp', remoteGroupId: group }],
      remoteGroups: { [group]: [] },
    },
  ];
  for (const p of ports) await run('nft', ['-c', '-f', '-'], { input: renderPortFirewall(p) });
});
