import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { StateDoc } from '../state/types.js';
import type { MemoryOptions } from '../testing/memory-handlers.js';
import { hasChanges, summarize } from './plan.js';
import { removeWorlds, world } from './world.test-support.js';

after(removeWorlds);

const STACK = (opts: { cidr?: string; userData?: string; dns?: string } = {}) => `
name: t
resources:
  img:
    type: image
    properties: { source: /images/guest.qcow2 }
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: ${opts.cidr ?? '10.20.0.0/24'}
      dnsNameservers: [${opts.dns ?? ''}]
  web:
    type: server
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
      userData: "${opts.userData ?? '#!/bin/sh'}"
outputs:
  ip: \${web.accessIpV4}
`;

describe('plan and apply with in-memory handlers', () => {
  test('creates in dependency order, then plans no changes', async () => {
    const h = world();
    const first = await h.plan(STACK());
    assert.deepEqual(
      first.plan.changes.map((c) => [c.name, c.action]),
      [
        ['img', 'create'],
        ['net', 'create'],
        ['sub', 'create'],
        ['web', 'create'],
      ],
    );
    const result = await h.apply(STACK());
    assert.equal(result.ok, true);
    assert.equal(result.added, 4);
    const order = h.mem.calls.filter((c) => c.op === 'create').map((c) => c.type);
    assert.ok(order.indexOf('network') < order.indexOf('subnet'));
    assert.ok(order.indexOf('subnet') < order.indexOf('server'));
    assert.ok(order.indexOf('image') < order.indexOf('server'));
    const again = await h.plan(STACK());
    assert.equal(
      hasChanges(again.plan),
      false,
      JSON.stringify(again.plan.changes.filter((c) => c.action !== 'no-op')),
    );
    const state = (await h.backend.read()) as StateDoc;
    assert.equal(
      state.outputs.ip?.value,
      `accessIpV4-${state.resources.find((r) => r.name === 'web')!.id.slice(0, 8)}`,
    );
  });

  test('an updatable attribute updates in place; a requiresReplace one replaces dependents too', async () => {
    const h = world();
    await h.apply(STACK());
    const dns = await h.plan(STACK({ dns: '10.20.0.53' }));
    assert.deepEqual(
      dns.plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.name, c.action]),
      [['sub', 'update']],
    );
    const ud = await h.plan(STACK({ userData: '#!/bin/sh\\necho changed' }));
    const web = ud.plan.changes.find((c) => c.name === 'web')!;
    assert.equal(web.action, 'replace');
    assert.deepEqual(
      web.changes.map((c) => [c.name, c.forcesReplace]),
      [['userData', true]],
    );
    const cidr = await h.plan(STACK({ cidr: '10.30.0.0/24' }));
    assert.deepEqual(
      cidr.plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.name, c.action]),
      [
        ['sub', 'replace'],
        ['web', 'replace'],
      ],
    );
    const result = await h.apply(STACK({ cidr: '10.30.0.0/24' }));
    assert.equal(result.ok, true);
    const ops = h.mem.calls
      .filter((c) => c.op !== 'read')
      .slice(-4)
      .map((c) => `${c.op}:${c.type}`);
    // Dependents are destroyed before what they depend on, and created after it.
    assert.deepEqual(ops, ['delete:server', 'delete:subnet', 'create:subnet', 'create:server']);
    assert.equal(hasChanges((await h.plan(STACK({ cidr: '10.30.0.0/24' }))).plan), false);
  });

  test('removed resources are deleted, dependents first', async () => {
    const h = world();
    await h.apply(STACK());
    const result = await h.apply('resources: {}');
    assert.equal(result.ok, true);
    assert.equal(result.destroyed, 4);
    const deletes = h.mem.calls.filter((c) => c.op === 'delete').map((c) => c.type);
    assert.ok(deletes.indexOf('server') < deletes.indexOf('subnet'));
    assert.ok(deletes.indexOf('subnet') < deletes.indexOf('network'));
    assert.ok(deletes.indexOf('server') < deletes.indexOf('image'));
    assert.equal(h.mem.objects.size, 0);
  });

  test('a resource deleted outside Stratus is planned for creation again', async () => {
    const h = world();
    await h.apply(STACK());
    const web = [...h.mem.objects].find(([, o]) => o.type === 'server')![0];
    h.mem.objects.delete(web);
    const p = await h.plan(STACK());
    const c = p.plan.changes.find((x) => x.name === 'web')!;
    assert.equal(c.action, 'create');
    assert.equal(c.reason, 'deleted-outside');
  });

  test('a failed create skips dependents, lets other branches finish, and is tainted', async () => {
    const opts: MemoryOptions = { failOn: (op, type) => op === 'create' && type === 'subnet' };
    const h = world(opts);
    const result = await h.apply(STACK());
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.errors.map((e) => e.name),
      ['sub'],
    );
    const state = (await h.backend.read()) as StateDoc;
    const byName = Object.fromEntries(state.resources.map((r) => [r.name, r.status]));
    assert.deepEqual(byName, { img: 'ready', net: 'ready', sub: 'tainted' });
    // Healthy again: the next apply replaces the tainted subnet and creates what was skipped.
    opts.failOn = undefined;
    const p = await h.plan(STACK());
    assert.equal(p.plan.changes.find((c) => c.name === 'sub')!.action, 'replace');
    assert.equal(p.plan.changes.find((c) => c.name === 'sub')!.reason, 'tainted');
    const second = await h.apply(STACK());
    assert.equal(second.ok, true);
    assert.equal([...h.mem.objects.values()].filter((o) => o.type === 'subnet').length, 1);
    assert.equal(hasChanges((await h.plan(STACK())).plan), false);
  });

  test('destroy deletes tainted entries too and empties state (it said "No changes" and kept them)', async () => {
    const opts: MemoryOptions = { failOn: (op, type) => op === 'create' && type === 'server' };
    const h = world(opts);
    assert.equal((await h.apply(STACK())).ok, false);
    const before = (await h.backend.read()) as StateDoc;
    assert.ok(
      before.resources.some((r) => r.status === 'tainted'),
      'the failed server is tainted',
    );
    opts.failOn = undefined;
    const p = await h.plan(STACK(), { destroy: true });
    assert.equal(summarize(p.plan).destroy, before.resources.length);
    const result = await h.apply(STACK(), { destroy: true });
    assert.equal(result.ok, true);
    assert.deepEqual(((await h.backend.read()) as StateDoc).resources, []);
    assert.equal(h.mem.objects.size, 0);
  });

  test('parallelism bounds operations in flight', async () => {
    const many = `resources:\n${Array.from({ length: 12 }, (_, i) => `  n${i}:\n    type: network\n`).join('')}`;
    // Each operation lasts long enough that the next ones start while it runs, also on a loaded host
    // where the state write before each start takes a good part of a second.
    const h = world({ delayMs: 1500 });
    await h.apply(many, { parallelism: 3 });
    assert.equal(h.mem.maxConcurrent, 3);
    // State writes between operations stagger their starts, so the default bound of 10 is approached,
    // never exceeded.
    const h10 = world({ delayMs: 4000 });
    await h10.apply(many);
    assert.ok(h10.mem.maxConcurrent <= 10 && h10.mem.maxConcurrent > 3, String(h10.mem.maxConcurrent));
  });
});
