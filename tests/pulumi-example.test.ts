import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { StratusPulumiProvider } from '../packages/provider/src/pulumi/provider.js';
import { resourceToken } from '../packages/provider/src/pulumi/schema.js';
import { fromPulumi } from '../packages/provider/src/pulumi/values.js';
import { Ref } from '../packages/sdk/src/engine/expr.js';
import { loadStackFile } from '../packages/sdk/src/loaders/stack-yaml.js';
import { mockId, runWithMocks } from './support/pulumi.js';

/**
 * examples/pulumi under Pulumi's own runtime (`pulumi.runtime.setMocks`): it registers the resources of
 * the stack-file quickstart (examples/quickstart/stack.yaml), with the same types and, once the
 * provider's Check has given them their defaults (as `pulumi up` does), the same inputs.
 */
const ROOT = resolve(import.meta.dirname, '..');

/** Stack-file values with each reference to a resource's id replaced by that resource's mock id. */
function withMockIds(v: unknown): unknown {
  if (v instanceof Ref) {
    assert.deepEqual(v.path, [], `${v.text}: only ids are referenced in the quickstart's inputs`);
    return mockId(v.resource);
  }
  if (Array.isArray(v)) return v.map(withMockIds);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withMockIds(x)]));
  return v;
}

test('examples/pulumi registers the quickstart: same resources, types and inputs as the stack file, in dependency order', async () => {
  const { registrations, outputs } = await runWithMocks(join(ROOT, 'examples/pulumi/index.ts'));
  const loaded = loadStackFile(join(ROOT, 'examples/quickstart/stack.yaml'));
  assert.ok(loaded.config, JSON.stringify(loaded.diagnostics));
  const stack = [...loaded.config.resources.values()];

  assert.deepEqual(
    registrations.map((r) => [r.type, r.name]).sort(),
    stack.map((r) => [resourceToken(r.type), r.name]).sort(),
  );
  const provider = new StratusPulumiProvider();
  for (const r of stack) {
    const reg = registrations.find((x) => x.name === r.name)!;
    const urn = `urn:pulumi:dev::quickstart::${reg.type}::${reg.name}`;
    const checked = provider.check(urn, reg.inputs);
    assert.deepEqual(checked.failures, [], `${r.name}: no check failures`);
    assert.deepEqual(
      fromPulumi(checked.inputs).values,
      withMockIds(r.properties),
      `${r.name}: the same inputs`,
    );
    // Registered after everything it references (the runtime waits for those ids).
    const position = registrations.indexOf(reg);
    for (const dep of JSON.stringify(reg.inputs).match(/[\w-]+-mock-id/g) ?? [])
      assert.ok(
        registrations.findIndex((x) => x.id === dep) < position,
        `${r.name} is registered after ${dep}`,
      );
  }
  assert.deepEqual(Object.keys(outputs).sort(), ['consoleLog', 'webIp']);
});

/** Typed by the SDK (checked by `npm run typecheck`; never run): Input props, Output attributes. */
export function sdkTypes(stratus: typeof import('@stratus/provider/pulumi')): void {
  const net = new stratus.Network('net', { mtu: 1500 });
  const subnet = new stratus.Subnet('subnet', { network: net.id, cidr: '10.20.0.0/24' });
  // @ts-expect-error: a resource is no id (pass `net.id`)
  new stratus.Subnet('bad', { network: net, cidr: '10.20.0.0/24' });
  // @ts-expect-error: memoryMb is a number
  new stratus.Server('bad', { image: 'i', networks: [{ subnet: subnet.id }], memoryMb: '256' });
  // @ts-expect-error: networks is required
  new stratus.Server('bad', { image: 'i' });
  const web = new stratus.Server('web', { image: 'i', networks: [{ subnet: subnet.id }] });
  const ip: import('@pulumi/pulumi').Output<string> = web.accessIpV4;
  void ip;
}
