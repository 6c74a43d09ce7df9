/**
 * Plan-time rules of volumes and servers (issue 12): a volume without multiattach attached twice and a
 * volume shrink are errors at the attribute; growing a volume and changing a server's flavor or power
 * state are in-place updates (a resize's new size is known after apply).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResourceType } from '@stratus/model';
import {
  Flavor,
  Image,
  Network,
  Server,
  Stack,
  Subnet,
  Volume,
  VolumeAttachment,
} from '../constructs/index.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { applyStack, planStack } from '../testing/plan-stack.js';
import { UNKNOWN } from './values.js';

function storageStack(opts: {
  sizeGb?: number;
  multiattach?: boolean;
  attachTwice?: boolean;
  big?: boolean;
  powerState?: 'running' | 'shutoff' | 'paused';
}) {
  const stack = new Stack('vols');
  const image = new Image(stack, 'img', { source: '/images/guest.qcow2' });
  const net = new Network(stack, 'net');
  const subnet = new Subnet(stack, 'sub', { network: net, cidr: '10.0.0.0/24' });
  const small = new Flavor(stack, 'small', { vcpus: 1, ramMb: 256, diskGb: 1 });
  const large = new Flavor(stack, 'large', { vcpus: 2, ramMb: 512, diskGb: 3 });
  const a = new Server(stack, 'a', {
    image,
    flavor: opts.big ? large : small,
    networks: [{ subnet }],
    ...(opts.powerState ? { powerState: opts.powerState } : {}),
  });
  const b = new Server(stack, 'b', { image, flavor: small, networks: [{ subnet }] });
  const data = new Volume(stack, 'data', {
    sizeGb: opts.sizeGb ?? 1,
    ...(opts.multiattach ? { multiattach: true } : {}),
  });
  new VolumeAttachment(stack, 'on_a', { server: a, volume: data });
  if (opts.attachTwice) new VolumeAttachment(stack, 'on_b', { server: b, volume: data });
  return stack;
}

test('a volume without multiattach attached to two servers is an error at the second attachment', async () => {
  const { diagnostics } = await planStack(storageStack({ attachTwice: true }));
  assert.equal(diagnostics.length, 1);
  assert.equal(diagnostics[0]!.field, 'resources.on_b.properties.volume');
  assert.match(
    diagnostics[0]!.message,
    /volume data is attached already \(as attachment on_a\) and has no multiattach/,
  );
  const multi = await planStack(storageStack({ attachTwice: true, multiattach: true }));
  assert.deepEqual(multi.diagnostics, []);
});

test('growing a volume is an in-place update; shrinking it is an error at sizeGb', async () => {
  const applied = await applyStack(storageStack({ sizeGb: 2 }));
  assert.equal(applied.ok, true);
  const grow = await planStack(storageStack({ sizeGb: 3 }), { state: applied.state });
  assert.deepEqual(grow.diagnostics, []);
  const data = grow.plan!.changes.find((c) => c.name === 'data')!;
  assert.equal(data.action, 'update');
  assert.deepEqual(
    data.changes.map((c) => [c.name, c.before, c.after]),
    [['sizeGb', 2, 3]],
  );
  const shrink = await planStack(storageStack({ sizeGb: 1 }), { state: applied.state });
  assert.equal(shrink.diagnostics.length, 1);
  assert.equal(shrink.diagnostics[0]!.field, 'resources.data.properties.sizeGb');
  assert.match(shrink.diagnostics[0]!.message, /cannot shrink a volume from 2 GiB to 1 GiB/);
});

test("a server's flavor and power state change in place; a resize's size is known after apply", async () => {
  const applied = await applyStack(storageStack({}));
  assert.equal(applied.ok, true);
  const resized = await planStack(storageStack({ big: true }), { state: applied.state });
  assert.deepEqual(resized.diagnostics, []);
  const a = resized.plan!.changes.find((c) => c.name === 'a')!;
  assert.equal(a.action, 'update');
  assert.equal(a.after!.vcpus, UNKNOWN);
  assert.equal(a.after!.memoryMb, UNKNOWN);
  const off = await planStack(storageStack({ powerState: 'shutoff' }), { state: applied.state });
  const a2 = off.plan!.changes.find((c) => c.name === 'a')!;
  assert.equal(a2.action, 'update');
  assert.deepEqual(
    a2.changes.map((c) => [c.name, c.after]),
    [['powerState', 'shutoff']],
  );
});

test('an update of a server with a flavor sends no vcpus or memoryMb (the agent takes them from the flavor and refuses them beside it)', async () => {
  const applied = await applyStack(storageStack({}));
  const sent: Record<string, unknown>[] = [];
  const world = new MemoryHandlers({
    failOn: (op, type, inputs) => {
      if (op === 'update' && type === 'server') sent.push(inputs ?? {});
      return false;
    },
  });
  for (const r of applied.state.resources)
    world.objects.set(r.id, { type: r.type as ResourceType, attributes: structuredClone(r.attributes) });
  const off = await applyStack(storageStack({ powerState: 'shutoff' }), {
    state: applied.state,
    providers: world.providers,
  });
  assert.equal(off.ok, true);
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.powerState, 'shutoff');
  assert.equal('vcpus' in sent[0]!, false);
  assert.equal('memoryMb' in sent[0]!, false);
  assert.equal(typeof sent[0]!.flavor, 'string');
});
