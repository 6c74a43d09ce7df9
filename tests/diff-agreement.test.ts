// One diff: over random prior/proposed pairs of every registered type, the engine's plan (the provider
// protocol's plan step, which makePlan calls) and the agent's change detection (services/base.ts
// specChanges, run on requests prepared as the agent's API prepares them) always agree on no-op,
// update or replace — including objects whose keys come in another order and lists of objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ResourceType, resourceTypes, schemas, validateResource } from '@stratus/model';
import fc from 'fast-check';
import { RequiresReplace } from '../packages/agent/src/errors.js';
import { specChanges } from '../packages/agent/src/services/base.js';
import { MemoryHandlers } from '../packages/sdk/src/testing/memory-handlers.js';

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/**
 * Two valid, differing input sets per type: every attribute takes its value from one of them (or is left
 * out when optional), so random pairs cover changes of every attribute. A type registered without
 * samples here fails the test below.
 */
const SAMPLES: Record<string, [Record<string, unknown>, Record<string, unknown>]> = {
  image: [
    { name: 'a', source: '/images/a.qcow2' },
    { name: 'b', source: '/images/b.qcow2' },
  ],
  flavor: [
    { name: 'a', vcpus: 1, ramMb: 256, diskGb: 0, extraSpecs: { 'hw:cpu_policy': 'shared', x: '1' } },
    { name: 'b', vcpus: 2, ramMb: 512, diskGb: 10, extraSpecs: { x: '1', 'hw:cpu_policy': 'shared' } },
  ],
  keypair: [
    { name: 'a', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA a' },
    { name: 'b', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB b' },
  ],
  network: [
    { name: 'a', mtu: 1500, external: true, providerBridge: 'br-ex' },
    { name: 'b', mtu: 9000, external: false },
  ],
  subnet: [
    {
      name: 'a',
      network: ID(1),
      cidr: '10.0.0.0/24',
      gatewayIp: '10.0.0.1',
      allocationPools: [
        { start: '10.0.0.10', end: '10.0.0.20' },
        { start: '10.0.0.30', end: '10.0.0.40' },
      ],
      dnsNameservers: ['10.0.0.2', '10.0.0.3'],
    },
    {
      name: 'b',
      network: ID(2),
      cidr: '10.0.0.0/24',
      gatewayIp: '10.0.0.254',
      allocationPools: [{ start: '10.0.0.100', end: '10.0.0.120' }],
      dnsNameservers: ['10.0.0.3', '10.0.0.2'],
    },
  ],
  server: [
    {
      name: 'a',
      hostname: 'a',
      image: ID(3),
      vcpus: 1,
      memoryMb: 256,
      firmware: 'bios',
      machine: 'pc',
      networks: [{ network: ID(1) }, { subnet: ID(5), fixedIp: '10.0.0.9' }],
      userData: '#!/bin/sh\necho a\n',
      adminPass: 'secret-one',
      keyPair: ID(6),
      publicKeys: { alice: 'ssh-ed25519 AAAA alice', bob: 'ssh-ed25519 BBBB bob' },
      securityGroups: [ID(11), ID(12)],
      serverGroup: ID(13),
    },
    {
      name: 'b',
      hostname: 'b',
      image: ID(4),
      flavor: ID(8),
      firmware: 'uefi',
      machine: 'q35',
      networks: [{ subnet: ID(5), fixedIp: '10.0.0.9' }, { network: ID(1) }, { port: ID(10) }],
      userData: '#!/bin/sh\necho b\n',
      adminPass: 'secret-two',
      keyPair: ID(7),
      publicKeys: { bob: 'ssh-ed25519 BBBB bob', alice: 'ssh-ed25519 AAAA alice' },
      powerState: 'shutoff',
      metadata: { role: 'db', tier: '1' },
      securityGroups: [ID(12)],
    },
  ],
  server_group: [
    { name: 'a', policy: 'anti-affinity', rules: { maxServerPerHost: 2 } },
    { name: 'b', policy: 'soft-affinity' },
  ],
  volume: [
    { name: 'a', sizeGb: 1, image: ID(3), multiattach: false },
    { name: 'b', sizeGb: 2, volume: ID(9), multiattach: true },
  ],
  volume_attachment: [
    { server: ID(1), volume: ID(2), device: 'vdc' },
    { server: ID(3), volume: ID(4), device: '/dev/vdd' },
  ],
  security_group: [
    {
      name: 'a',
      description: 'web',
      rules: [
        {
          direction: 'ingress',
          protocol: 'tcp',
          portRangeMin: 22,
          portRangeMax: 22,
          remoteIpPrefix: '0.0.0.0/0',
        },
        { direction: 'egress' },
      ],
    },
    {
      name: 'b',
      description: 'db',
      rules: [{ remoteGroup: ID(1), protocol: 'icmp', direction: 'ingress', portRangeMin: 8 }],
    },
  ],
  security_group_rule: [
    {
      securityGroup: ID(1),
      direction: 'ingress',
      ethertype: 'IPv4',
      protocol: 'tcp',
      portRangeMin: 80,
      portRangeMax: 443,
      remoteIpPrefix: '10.0.0.0/8',
    },
    {
      securityGroup: ID(2),
      direction: 'egress',
      protocol: 'udp',
      portRangeMin: 100,
      portRangeMax: 500,
      remoteGroup: ID(3),
    },
  ],
  port: [
    {
      name: 'a',
      network: ID(1),
      fixedIps: [{ subnet: ID(5), ipAddress: '10.0.0.9' }],
      macAddress: 'fa:16:3e:00:00:01',
      securityGroups: [ID(2), ID(3)],
      portSecurityEnabled: true,
      allowedAddressPairs: [
        { ipAddress: '10.0.0.100' },
        { macAddress: 'fa:16:3e:00:00:09', ipAddress: '10.0.1.0/24' },
      ],
    },
    {
      name: 'b',
      network: ID(2),
      fixedIps: [{ ipAddress: '10.0.0.10' }],
      macAddress: 'fa:16:3e:00:00:02',
      securityGroups: [],
      portSecurityEnabled: false,
      allowedAddressPairs: [],
    },
  ],
  router: [
    {
      name: 'a',
      externalGateway: { network: ID(1), enableSnat: true, fixedIp: '192.0.2.10' },
      routes: [
        { destination: '10.50.0.0/24', nexthop: '10.0.0.5' },
        { destination: '10.60.0.0/24', nexthop: '10.0.0.6' },
      ],
    },
    {
      name: 'b',
      // The same gateway with enableSnat left to its default: no change on either side.
      externalGateway: { fixedIp: '192.0.2.10', network: ID(1) },
      routes: [],
    },
  ],
  router_interface: [
    { router: ID(1), subnet: ID(2) },
    { router: ID(3), subnet: ID(4) },
  ],
  floating_ip: [
    { network: ID(1), floatingIpAddress: '192.0.2.50', server: ID(2) },
    { network: ID(3), floatingIpAddress: '192.0.2.51', server: ID(4) },
  ],
};

/** The same value with the keys of every object in a random order (the agent once compared JSON text). */
function shuffleKeys(v: unknown, rnd: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, rnd));
  if (v === null || typeof v !== 'object') return v;
  const keys = Object.keys(v).sort(() => rnd() - 0.5);
  return Object.fromEntries(keys.map((k) => [k, shuffleKeys((v as Record<string, unknown>)[k], rnd)]));
}

/** An input set: per attribute, sample 0's value, sample 1's, or (when optional) none; keys shuffled. */
function inputs(type: string): fc.Arbitrary<Record<string, unknown>> {
  const [a, b] = SAMPLES[type]!;
  const required = new Set(schemas[type as ResourceType].inputs.required ?? []);
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return fc
    .tuple(
      fc.array(fc.constantFrom(0, 1, 2), { minLength: names.length, maxLength: names.length }),
      fc.integer(),
    )
    .map(([picks, seed]) => {
      const out: Record<string, unknown> = {};
      names.forEach((n, i) => {
        const p = picks[i]!;
        if (p === 2 && !required.has(n)) return;
        out[n] = structuredClone((p === 1 ? b : a)[n] ?? a[n]);
      });
      let s = seed;
      const rnd = () => {
        s = (s * 1103515245 + 12345) & 0x7fffffff;
        return s / 0x7fffffff;
      };
      return shuffleKeys(out, rnd) as Record<string, unknown>;
    });
}

const providers = new MemoryHandlers().providers;

/** The engine's action: the provider protocol's plan step against prior attributes. */
function engineAction(type: ResourceType, prior: Record<string, unknown>, proposed: Record<string, unknown>) {
  const res = providers[type].plan({ prior, proposed });
  return res.requiresReplace.length ? 'replace' : res.changes.length ? 'update' : 'no-op';
}

/** The agent's action: its change detection on the prepared request against the recorded spec. */
function agentAction(
  type: ResourceType,
  recorded: Record<string, unknown>,
  requested: Record<string, unknown>,
) {
  try {
    return specChanges(type, recorded, requested).length ? 'update' : 'no-op';
  } catch (e) {
    if (RequiresReplace.isInstance(e)) return 'replace';
    throw e;
  }
}

test('every registered type has samples for the agreement property', () => {
  for (const t of resourceTypes) assert.ok(SAMPLES[t], `no samples for ${t}`);
});

for (const type of resourceTypes) {
  test(`engine plan and agent change detection agree for ${type}`, () => {
    fc.assert(
      fc.property(inputs(type), inputs(type), (a, b) => {
        // The agent records what its API prepared; the engine proposes the same input values.
        const recorded = structuredClone(a);
        const requested = structuredClone(b);
        fc.pre(
          validateResource(type, recorded).length === 0 && validateResource(type, requested).length === 0,
        );
        // The engine's prior is what the agent reports: the recorded spec and its computed status.
        const prior = { ...structuredClone(recorded), status: 'ACTIVE' };
        const proposed = shuffleKeys(structuredClone(b), Math.random) as Record<string, unknown>;
        assert.equal(validateResource(type, proposed).length, 0);
        assert.equal(
          engineAction(type, prior, proposed),
          agentAction(type, recorded, requested),
          `prior ${JSON.stringify(recorded)}\nproposed ${JSON.stringify(requested)}`,
        );
      }),
      { numRuns: 300 },
    );
  });
}

test('the reported case: reordered publicKeys plus a rename is an update on both sides', () => {
  const recorded = structuredClone(SAMPLES.server![0]);
  validateResource('server', recorded);
  const requested = {
    ...structuredClone(recorded),
    name: 'renamed',
    publicKeys: { bob: 'ssh-ed25519 BBBB bob', alice: 'ssh-ed25519 AAAA alice' },
  };
  validateResource('server', requested);
  assert.equal(engineAction('server', recorded, requested), 'update');
  assert.equal(agentAction('server', recorded, requested), 'update');
});
