import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { loadStackText } from '../loaders/stack-yaml.js';
import type { StateDoc } from '../state/types.js';
import { checkStack } from './check.js';
import { hasChanges, makePlan } from './plan.js';
import { refresh } from './refresh.js';
import { checkProviders, removeWorlds, world } from './world.test-support.js';

after(removeWorlds);

const stack = (o: { cidr?: string; dns?: string; lifecycle?: string; mtu?: number } = {}) => `
resources:
  net:
    type: network
    properties: { mtu: ${o.mtu ?? 1500} }
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: ${o.cidr ?? '10.1.0.0/24'}
      dnsNameservers: [${o.dns ?? ''}]
${o.lifecycle ?? ''}
`;

const actions = (p: { changes: { name: string; action: string }[] }) =>
  Object.fromEntries(p.changes.filter((c) => c.action !== 'no-op').map((c) => [c.name, c.action]));

describe('lifecycle options', () => {
  test('createBeforeDestroy creates the new object before destroying the old', async () => {
    const w = world();
    const cbd = '    lifecycle: { createBeforeDestroy: true }';
    assert.equal((await w.apply(stack({ lifecycle: cbd }))).ok, true);
    const oldId = (await w.backend.read())!.resources.find((r) => r.name === 'sub')!.id;
    const before = w.mem.calls.length;
    const res = await w.apply(stack({ lifecycle: cbd, cidr: '10.2.0.0/24' }));
    assert.equal(res.ok, true);
    const ops = w.mem.calls.slice(before).filter((c) => c.op !== 'read');
    assert.deepEqual(
      ops.map((c) => `${c.op}:${c.type}`),
      ['create:subnet', 'delete:subnet'],
    );
    assert.equal(ops[1]!.id, oldId);
    const state = (await w.backend.read())!;
    assert.deepEqual(state.resources.map((r) => r.name).sort(), ['net', 'sub']);
    assert.equal(hasChanges((await w.plan(stack({ lifecycle: cbd, cidr: '10.2.0.0/24' }))).plan), false);
  });

  test('a deposed object left by an interrupted replace is destroyed by the next plan', async () => {
    const w = world();
    await w.apply(stack());
    const state = (await w.backend.read()) as StateDoc;
    const sub = state.resources.find((r) => r.name === 'sub')!;
    // As if apply stopped after setting the old object aside and creating the new one.
    const ghost = { ...sub, name: `sub (deposed ${sub.id.slice(0, 8)})`, status: 'deposed' as const };
    await w.backend.write({ ...state, serial: state.serial + 1, resources: [...state.resources, ghost] });
    const p = await w.plan(stack());
    assert.deepEqual(actions(p.plan), { [ghost.name]: 'delete' });
    assert.equal(p.plan.changes.find((c) => c.name === ghost.name)!.reason, 'deposed');
  });

  test('preventDestroy makes a plan that would replace the resource an error, and apply refuses it', async () => {
    const w = world();
    const pd = '    lifecycle: { preventDestroy: true }';
    await w.apply(stack({ lifecycle: pd }));
    const p = await w.plan(stack({ lifecycle: pd, cidr: '10.9.0.0/24' }));
    assert.match(
      p.plan.errors.map((e) => e.message).join('\n'),
      /subnet sub has lifecycle.preventDestroy set/,
    );
    await assert.rejects(
      w.apply(stack({ lifecycle: pd, cidr: '10.9.0.0/24' })),
      /refusing to apply a plan with errors/,
    );
    // Destroying everything is refused too, and the plan still deletes dependents first.
    const destroy = await w.plan(stack({ lifecycle: pd }), { destroy: true });
    assert.match(
      destroy.plan.errors.map((e) => e.message).join('\n'),
      /subnet sub has lifecycle.preventDestroy set, but this plan would destroy it/,
    );
    assert.deepEqual(actions(destroy.plan), { net: 'delete', sub: 'delete' });
    // An in-place update is still fine.
    assert.deepEqual(actions((await w.plan(stack({ lifecycle: pd, dns: '10.1.0.53' }))).plan), {
      sub: 'update',
    });
  });

  test('a destroy plan deletes everything, dependents first, and creates nothing', async () => {
    const w = world();
    await w.apply(stack());
    const before = w.mem.calls.length;
    const res = await w.apply(stack(), { destroy: true });
    assert.equal(res.ok, true);
    const ops = w.mem.calls.slice(before).filter((c) => c.op !== 'read');
    assert.deepEqual(
      ops.map((c) => `${c.op}:${c.type}`),
      ['delete:subnet', 'delete:network'],
    );
    assert.equal(w.mem.objects.size, 0);
    assert.deepEqual((await w.backend.read())!.resources, []);
  });

  test('ignoreChanges leaves listed attributes alone, in diffs and in updates', async () => {
    const w = world();
    const ic = '    lifecycle: { ignoreChanges: [dnsNameservers] }';
    await w.apply(stack({ lifecycle: ic }));
    assert.equal(hasChanges((await w.plan(stack({ lifecycle: ic, dns: '10.1.0.53' }))).plan), false);
  });

  test('-target limits the plan to a resource and its dependencies; -replace forces a replace', async () => {
    const w = world();
    await w.apply(stack());
    const p = await w.plan(stack({ mtu: 9000, dns: '10.1.0.53' }), { targets: ['net'] });
    assert.deepEqual(actions(p.plan), { net: 'replace' });
    const both = await w.plan(stack({ mtu: 9000, dns: '10.1.0.53' }), { targets: ['sub'] });
    // sub depends on net, so both are in scope; sub's network id changes with net's replacement.
    assert.deepEqual(actions(both.plan), { net: 'replace', sub: 'replace' });
    const r = await w.plan(stack(), { replace: ['net'] });
    assert.equal(r.plan.changes.find((c) => c.name === 'net')!.reason, 'replace-requested');
    assert.deepEqual(actions(r.plan), { net: 'replace', sub: 'replace' });
    const bad = await w.plan(stack(), { targets: ['nope'] });
    assert.match(bad.plan.errors.map((e) => e.message).join(), /no resource named nope/);
  });

  test('drift reported by a handler becomes an in-place update that repairs it', async () => {
    const w = world();
    await w.apply(stack());
    const net = [...w.mem.objects].find(([, o]) => o.type === 'network')![1];
    net.attributes.status = 'DOWN';
    net.attributes.bridge = 'brqx';
    // The network type's own drift rule (from its schema) sees the status the agent would report.
    const prior = (await w.backend.read())!;
    const refreshed = await refresh(prior, w.mem.providers);
    assert.equal(refreshed.drift.get('net'), 'its bridge brqx was deleted outside Stratus');
    const { config } = loadStackText(stack(), '/virtual/stack.yaml');
    const plan = makePlan(
      config!,
      checkStack(config!, checkProviders).graph,
      refreshed,
      prior,
      w.mem.providers,
    );
    const c = plan.changes.find((x) => x.name === 'net')!;
    assert.equal(c.action, 'update');
    assert.equal(c.reason, 'drift');
  });

  test('bad lifecycle and timeouts blocks are diagnostics with positions', () => {
    const yaml = `resources:\n  net:\n    type: network\n    lifecycle: { ignoreChanges: [colour], bogus: true }\n    timeouts: { create: soon }\n`;
    const { diagnostics } = loadStackText(yaml, '/v/stack.yaml');
    const msgs = diagnostics.items.map((d) => `${d.range?.line}:${d.field}: ${d.message}`);
    assert.deepEqual(msgs, [
      '4:resources.net.lifecycle.ignoreChanges[0]: "colour" is not an input attribute of network',
      '4:resources.net.lifecycle.bogus: unknown option; expected createBeforeDestroy, preventDestroy or ignoreChanges',
      '5:resources.net.timeouts.create: must be a duration such as 30s, 10m, 1h or 1h30m, not "soon"',
    ]);
  });
});
