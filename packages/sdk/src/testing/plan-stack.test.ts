import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Image, Network, Server, Stack, Subnet } from '../constructs/index.js';
import { formatDiagnostic } from '../diagnostics/index.js';
import { hasChanges } from '../engine/plan.js';
import { UNKNOWN } from '../engine/values.js';
import { loadProgram } from '../loaders/program.js';
import { loadStackFile } from '../loaders/stack-yaml.js';
import { applyStack, planStack } from './plan-stack.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../../..');

/** A user's stack, parameterized the way a user's would be. */
function webStack(opts: { memoryMb?: number } = {}) {
  const stack = new Stack('app');
  const image = new Image(stack, 'img', { source: '/images/guest.qcow2' });
  const net = new Network(stack, 'net');
  const subnet = new Subnet(stack, 'subnet', { network: net, cidr: '10.0.0.0/24' });
  const web = new Server(stack, 'web', { image, memoryMb: opts.memoryMb ?? 512, networks: [{ subnet }] });
  stack.output('ip', web.attrs.accessIpV4);
  return stack;
}

describe('planStack and applyStack: unit tests of a stack without hosts', () => {
  test('my stack creates a server with 512 MiB on the subnet', async () => {
    const { plan, diagnostics } = await planStack(webStack());
    assert.deepEqual(diagnostics, []);
    const web = plan!.changes.find((c) => c.name === 'web')!;
    assert.equal(web.action, 'create');
    assert.equal(web.after!.memoryMb, 512);
    // The subnet does not exist yet: its id is known after apply.
    assert.deepEqual(web.after!.networks, [{ subnet: UNKNOWN }]);

    const applied = await applyStack(webStack());
    assert.equal(applied.ok, true);
    assert.deepEqual(applied.resource('web').attributes.networks, [
      { subnet: applied.resource('subnet').id },
    ]);
    assert.equal(applied.resource('subnet').attributes.network, applied.resource('net').id);
    assert.equal(applied.outputs.ip, applied.resource('web').attributes.accessIpV4);
  });

  test('against the state of an earlier apply: no changes, then an in-place resize when memory changes', async () => {
    const first = await applyStack(webStack());
    const same = await planStack(webStack(), { state: first.state });
    assert.equal(hasChanges(same.plan!), false);
    const bigger = await planStack(webStack({ memoryMb: 1024 }), { state: first.state });
    assert.deepEqual(
      bigger.plan!.changes.filter((c) => c.action !== 'no-op').map((c) => [c.name, c.action]),
      [['web', 'update']],
    );
    const second = await applyStack(webStack({ memoryMb: 1024 }), { state: first.state });
    assert.equal(second.resource('web').attributes.memoryMb, 1024);
    assert.equal(second.resource('web').id, first.resource('web').id);
    assert.equal(second.resource('net').id, first.resource('net').id);
  });

  test('a stack with errors gives diagnostics and no plan; applyStack refuses it', async () => {
    const stack = new Stack('bad');
    const net = new Network(stack, 'net');
    new Subnet(stack, 'subnet', { network: net, cidr: '10.0.0.0/24' });
    // No image (nor installMedia): refused at load time, which is what this test checks.
    new Server(stack, 'web', { memoryMb: 8, networks: [{ network: net }] });
    const { plan, diagnostics } = await planStack(stack);
    assert.equal(plan, undefined);
    assert.deepEqual(diagnostics.map((d) => `${d.field}: ${d.message}`).sort(), [
      'resources.web.properties.image: is required (or bootVolume, to boot from a volume, or installMedia, to install from an ISO)',
      'resources.web.properties.memoryMb: must be >= 64',
    ]);
    await assert.rejects(applyStack(stack), /memoryMb: must be >= 64/);
  });

  test('the TypeScript example plans empty against the applied YAML quickstart', async () => {
    const yaml = loadStackFile(join(ROOT, 'examples/quickstart/stack.yaml'));
    assert.ok(yaml.config, yaml.diagnostics.items.map(formatDiagnostic).join('\n'));
    const applied = await applyStack(yaml.config);
    assert.equal(applied.ok, true);
    // The example imports @stratus/sdk, i.e. the built package: `npm run build` first.
    const ts = await loadProgram(join(ROOT, 'examples/typescript/program.ts'));
    assert.ok(ts.config, ts.diagnostics.items.map(formatDiagnostic).join('\n'));
    const { plan, diagnostics } = await planStack(ts.config, { state: applied.state });
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      plan!.changes.map((c) => [c.name, c.action]),
      [
        ['guest-image', 'no-op'],
        ['net', 'no-op'],
        ['web-sg', 'no-op'],
        ['subnet', 'no-op'],
        ['web', 'no-op'],
      ],
    );
    assert.deepEqual(plan!.outputs, {
      web_ip: { value: applied.outputs.web_ip, sensitive: false },
      console_log: { value: applied.outputs.console_log, sensitive: false },
    });
  });
});
