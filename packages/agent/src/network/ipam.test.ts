import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError, Conflict, InvalidRequest, PoolExhausted } from '../errors.js';
import {
  allocateIp,
  defaultAllocationPools,
  defaultGateway,
  type IpamErrorCode,
  intToIp,
  ipInCidr,
  ipToInt,
  isValidIpv4,
  parseCidr,
} from './ipam.js';

function throwsCode(fn: () => unknown, code: IpamErrorCode): void {
  assert.throws(fn, (e: unknown) => AgentError.isInstance(e) && e.code === code);
}

test('isValidIpv4 accepts dotted quads only', () => {
  for (const ok of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.168.1.10']) assert.ok(isValidIpv4(ok), ok);
  for (const bad of [
    '',
    '10.0.0',
    '10.0.0.0.1',
    '256.0.0.1',
    '010.0.0.1',
    '1.2.3.4 ',
    'a.b.c.d',
    '-1.0.0.0',
  ]) {
    assert.ok(!isValidIpv4(bad), bad);
  }
});

test('ipToInt and intToIp round-trip, unsigned', () => {
  assert.equal(ipToInt('0.0.0.0'), 0);
  assert.equal(ipToInt('255.255.255.255'), 0xffffffff);
  assert.equal(ipToInt('10.1.2.3'), 0x0a010203);
  assert.equal(ipToInt('192.168.0.1'), 0xc0a80001);
  for (const ip of ['1.2.3.4', '128.0.0.0', '255.255.255.254']) assert.equal(intToIp(ipToInt(ip)), ip);
  throwsCode(() => ipToInt('1.2.3'), 'invalid_ip');
  assert.throws(() => intToIp(-1), RangeError);
  assert.throws(() => intToIp(2 ** 32), RangeError);
});

test('parseCidr returns network, mask, broadcast and host range', () => {
  assert.deepEqual(parseCidr('10.20.0.0/24'), {
    cidr: '10.20.0.0/24',
    network: ipToInt('10.20.0.0'),
    prefix: 24,
    netmask: '255.255.255.0',
    broadcast: ipToInt('10.20.0.255'),
    firstHost: ipToInt('10.20.0.1'),
    lastHost: ipToInt('10.20.0.254'),
  });
  assert.equal(parseCidr('10.0.0.0/8').netmask, '255.0.0.0');
  assert.equal(parseCidr('192.168.4.0/22').netmask, '255.255.252.0');
  assert.equal(intToIp(parseCidr('192.168.4.0/22').broadcast), '192.168.7.255');
  assert.equal(intToIp(parseCidr('172.16.0.4/30').lastHost), '172.16.0.6');
});

test('parseCidr refuses malformed, non-canonical and out-of-range input with a clear message', () => {
  for (const bad of [
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0/24',
    '10.0.0.0/24/1',
    ' 10.0.0.0/24',
    '10.0.0.0/024x',
    '',
  ]) {
    throwsCode(() => parseCidr(bad), 'invalid_cidr');
  }
  throwsCode(() => parseCidr('10.0.0.0/7'), 'invalid_cidr');
  throwsCode(() => parseCidr('10.0.0.0/31'), 'invalid_cidr');
  throwsCode(() => parseCidr('10.0.0.0/32'), 'invalid_cidr');
  assert.throws(() => parseCidr('10.0.0.5/24'), /network address is 10\.0\.0\.0\/24/);
});

test('ipInCidr includes network and broadcast, excludes neighbours', () => {
  assert.ok(ipInCidr('10.0.0.0', '10.0.0.0/24'));
  assert.ok(ipInCidr('10.0.0.255', '10.0.0.0/24'));
  assert.ok(!ipInCidr('10.0.1.0', '10.0.0.0/24'));
  assert.ok(!ipInCidr('9.255.255.255', '10.0.0.0/24'));
  assert.ok(ipInCidr('200.1.2.3', '200.0.0.0/8'));
  throwsCode(() => ipInCidr('x', '10.0.0.0/24'), 'invalid_ip');
});

test('defaultGateway is the first host', () => {
  assert.equal(defaultGateway('10.20.0.0/24'), '10.20.0.1');
  assert.equal(defaultGateway('192.168.4.0/22'), '192.168.4.1');
});

test('defaultAllocationPools skip network, broadcast and the gateway', () => {
  assert.deepEqual(defaultAllocationPools('10.0.0.0/24', '10.0.0.1'), [
    { start: '10.0.0.2', end: '10.0.0.254' },
  ]);
  assert.deepEqual(defaultAllocationPools('10.0.0.0/24', '10.0.0.254'), [
    { start: '10.0.0.1', end: '10.0.0.253' },
  ]);
  assert.deepEqual(defaultAllocationPools('10.0.0.0/24', '10.0.0.100'), [
    { start: '10.0.0.1', end: '10.0.0.99' },
    { start: '10.0.0.101', end: '10.0.0.254' },
  ]);
  assert.deepEqual(defaultAllocationPools('10.0.0.0/24', null), [{ start: '10.0.0.1', end: '10.0.0.254' }]);
  assert.deepEqual(defaultAllocationPools('10.0.0.0/24', '10.9.9.9'), [
    { start: '10.0.0.1', end: '10.0.0.254' },
  ]);
  assert.deepEqual(defaultAllocationPools('10.0.0.0/30', '10.0.0.1'), [
    { start: '10.0.0.2', end: '10.0.0.2' },
  ]);
});

test('allocateIp hands out the lowest free address, across pools', () => {
  const pools = [
    { start: '10.0.0.2', end: '10.0.0.3' },
    { start: '10.0.0.10', end: '10.0.0.11' },
  ];
  const used = new Set<string>();
  const got: string[] = [];
  for (let i = 0; i < 4; i++) {
    const ip = allocateIp(pools, used);
    used.add(ip);
    got.push(ip);
  }
  assert.deepEqual(got, ['10.0.0.2', '10.0.0.3', '10.0.0.10', '10.0.0.11']);
  throwsCode(() => allocateIp(pools, used), 'pool_exhausted');
  used.delete('10.0.0.3');
  assert.equal(allocateIp(pools, used), '10.0.0.3');
});

test('allocateIp honours a requested address or says why not', () => {
  const pools = [{ start: '10.0.0.2', end: '10.0.0.254' }];
  const used = new Set(['10.0.0.5']);
  assert.equal(allocateIp(pools, used, '10.0.0.7'), '10.0.0.7');
  throwsCode(() => allocateIp(pools, used, '10.0.0.5'), 'ip_in_use');
  throwsCode(() => allocateIp(pools, used, '10.0.0.1'), 'ip_outside_pool');
  throwsCode(() => allocateIp(pools, used, '10.0.1.7'), 'ip_outside_pool');
  throwsCode(() => allocateIp(pools, used, 'nope'), 'invalid_ip');
  throwsCode(() => allocateIp([{ start: '10.0.0.9', end: '10.0.0.2' }], used), 'invalid_pool');
});

test('allocateIp stays fast on a large, mostly used pool', () => {
  const pools = defaultAllocationPools('10.0.0.0/8', '10.0.0.1');
  const used = new Set<string>();
  for (let n = ipToInt('10.0.0.2'); used.size < 50_000; n++) used.add(intToIp(n));
  const t0 = performance.now();
  assert.equal(allocateIp(pools, used), intToIp(ipToInt('10.0.0.2') + 50_000));
  // A scan per used address would take minutes; one pass takes milliseconds. The bound is far above a
  // loaded host's time for the pass and far below the quadratic one.
  assert.ok(performance.now() - t0 < 15_000);
});

test('IPAM failures are domain errors of the kind their code calls for', () => {
  const kinds = [
    [() => allocateIp([{ start: '10.0.0.2', end: '10.0.0.2' }], new Set(['10.0.0.2'])), PoolExhausted],
    [() => allocateIp([{ start: '10.0.0.2', end: '10.0.0.9' }], new Set(['10.0.0.5']), '10.0.0.5'), Conflict],
    [() => allocateIp([{ start: '10.0.0.2', end: '10.0.0.9' }], new Set(), '10.0.1.5'), InvalidRequest],
  ] as const;
  for (const [fn, Kind] of kinds)
    assert.throws(fn, (e: unknown) => Kind.isInstance(e) && e.name === Kind.name);
  assert.ok(!AgentError.isInstance(new Error('x')));
  assert.ok(!AgentError.isInstance(null));
});
