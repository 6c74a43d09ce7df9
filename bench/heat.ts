/**
 * bench/heat: load + plan of a Heat template with a ResourceGroup of 1,000 servers (in-memory handlers),
 * beside the same stack written natively as a stack file (`count: 1000`), and the ratio of the two.
 * Both plans are checked to be the same (1,000 server creates with the same inputs, plus the image,
 * network, subnet and flavor) before anything is timed: a bench that measures a wrong result is worthless.
 *
 *   node --import tsx bench/heat.ts            # 7 runs of each after a warm-up
 *   node --import tsx bench/heat.ts --quick    # one run of each
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkStack } from '../packages/sdk/src/engine/check.js';
import type { StackConfig } from '../packages/sdk/src/engine/config.js';
import { emptyState, makePlan } from '../packages/sdk/src/engine/plan.js';
import { unrefreshed } from '../packages/sdk/src/engine/refresh.js';
import { loadHeatFile } from '../packages/sdk/src/loaders/heat/load.js';
import { loadStackFile } from '../packages/sdk/src/loaders/stack-yaml.js';
import { MemoryHandlers } from '../packages/sdk/src/testing/memory-handlers.js';

const N = 1000;
const quick = process.argv.includes('--quick');
const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-heat-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'disk.qcow2'), 'x');

writeFileSync(
  join(dir, 'group.yaml'),
  `heat_template_version: 2018-08-31
parameters:
  count: {type: number, default: ${N}}
resources:
  img: {type: OS::Glance::WebImage, properties: {location: disk.qcow2}}
  net: {type: OS::Neutron::Net}
  subnet: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.80.0.0/20}}
  small: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256}}
  web:
    type: OS::Heat::ResourceGroup
    properties:
      count: {get_param: count}
      resource_def:
        type: OS::Nova::Server
        properties:
          name: web-%index%
          image: {get_resource: img}
          flavor: {get_resource: small}
          networks: [{subnet: {get_resource: subnet}}]
          user_data_format: RAW
          user_data:
            str_replace:
              template: "#!/bin/sh\\necho web %index% > /www/index.html\\n"
              params: {}
`,
);
writeFileSync(
  join(dir, 'stack.yaml'),
  `name: group
variables:
  count: {type: number, default: ${N}}
resources:
  img: {type: image, properties: {source: disk.qcow2}}
  net: {type: network}
  subnet: {type: subnet, properties: {network: "\${net}", cidr: 10.80.0.0/20}}
  small: {type: flavor, properties: {vcpus: 1, ramMb: 256}}
  web:
    type: server
    count: \${var.count}
    properties:
      name: web-\${count.index}
      image: \${img}
      flavor: \${small}
      networks: [{subnet: "\${subnet}"}]
      userData: "#!/bin/sh\\necho web \${count.index} > /www/index.html\\n"
`,
);

const providers = new MemoryHandlers().providers;

/** Loads with `load`, checks and plans against an empty state; returns the plan and the phase times. */
async function run(load: () => StackConfig | undefined) {
  const t0 = performance.now();
  const config = load();
  assert.ok(config, 'the stack did not load');
  const t1 = performance.now();
  const { graph, diagnostics } = checkStack(config, providers);
  assert.ok(!diagnostics.hasErrors, diagnostics.items.map((d) => d.message).join('\n'));
  const plan = await makePlan(
    config,
    graph,
    unrefreshed(emptyState('group')),
    emptyState('group'),
    providers,
  );
  const t2 = performance.now();
  return { plan, load: t1 - t0, plan_: t2 - t1, total: t2 - t0 };
}

const heat = () => {
  const r = loadHeatFile(join(dir, 'group.yaml'));
  assert.ok(!r.diagnostics.hasErrors, r.diagnostics.items.map((d) => d.message).join('\n'));
  return r.config;
};
const native = () => {
  const r = loadStackFile(join(dir, 'stack.yaml'));
  assert.ok(!r.diagnostics.hasErrors, r.diagnostics.items.map((d) => d.message).join('\n'));
  return r.config;
};

// The two plans must be the same.
const a = await run(heat);
const b = await run(native);
const shape = (p: typeof a.plan) =>
  p.changes
    .map((c) => ({ name: c.name, type: c.type, action: c.action, after: c.after }))
    .sort((x, y) => x.name.localeCompare(y.name));
assert.equal(a.plan.changes.length, N + 4);
assert.deepEqual(shape(a.plan), shape(b.plan));

const runs = quick ? 1 : 7;
const times: Record<'heat' | 'native', { load: number[]; plan: number[]; total: number[] }> = {
  heat: { load: [], plan: [], total: [] },
  native: { load: [], plan: [], total: [] },
};
for (let i = 0; i < runs; i++) {
  // Interleaved, so a change in the machine's load hits both alike.
  for (const [k, f] of [
    ['heat', heat],
    ['native', native],
  ] as const) {
    const r = await run(f);
    times[k].load.push(r.load);
    times[k].plan.push(r.plan_);
    times[k].total.push(r.total);
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(0)} ms`;
console.log(`ResourceGroup of ${N} servers (+4 resources), ${runs} run(s) each, medians:`);
for (const k of ['heat', 'native'] as const)
  console.log(
    `  ${k.padEnd(6)}  load ${ms(median(times[k].load)).padStart(8)}  check+plan ${ms(median(times[k].plan)).padStart(8)}  total ${ms(median(times[k].total)).padStart(8)}`,
  );
console.log(
  `  heat/native: load ${(median(times.heat.load) / median(times.native.load)).toFixed(2)}, total ${(median(times.heat.total) / median(times.native.total)).toFixed(2)}`,
);
