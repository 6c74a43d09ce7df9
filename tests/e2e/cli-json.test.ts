/** `apply -json` and `destroy -json` against a real agent: Terraform's machine-readable UI, one object per line. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv } from './helpers.js';

const STACK = `name: json
resources:
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.71.0.0/24
outputs:
  bridge: \${net.bridge}
`;

/** The fields of the UI's messages this test reads. */
interface Line {
  type: string;
  '@module': string;
  change: { resource: { addr: string }; action: string };
  hook: { resource: { addr: string }; action: string; id_key?: string; id_value: string };
  changes: unknown;
  outputs: Record<string, { sensitive: boolean; value?: unknown }>;
}

let t: AgentEnv;
let state: string;

before(async () => {
  t = agentEnv('cli-json');
  await t.startAgent();
  state = join(t.dir, 'state.json');
  writeFileSync(join(t.dir, 'stack.yaml'), STACK);
});
after(async () => {
  await t.cleanup([state]);
});

const parse = (stdout: string) =>
  stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

test('apply -json then destroy -json', async () => {
  const applied = await t.stratus('apply', '-json', '-auto-approve', `-state=${state}`, `-chdir=${t.dir}`);
  assert.equal(applied.code, 0, applied.stderr);
  const lines = parse(applied.stdout);
  for (const l of lines) assert.equal(l['@module'], 'stratus.ui');
  const types = lines.map((l) => l.type);
  assert.equal(types[0], 'version');
  assert.deepEqual(
    lines.filter((l) => l.type === 'planned_change').map((l) => [l.change.resource.addr, l.change.action]),
    [
      ['net', 'create'],
      ['sub', 'create'],
    ],
  );
  const completes = lines.filter((l) => l.type === 'apply_complete');
  assert.deepEqual(completes.map((l) => l.hook.resource.addr).sort(), ['net', 'sub']);
  for (const c of completes) {
    assert.equal(c.hook.action, 'create');
    assert.equal(c.hook.id_key, 'id');
    assert.match(c.hook.id_value, /^[0-9a-f-]{36}$/);
  }
  assert.equal(lines.filter((l) => l.type === 'apply_start').length, 2);
  const summary = lines.find((l) => l.type === 'change_summary')!;
  assert.deepEqual(summary.changes, { add: 2, change: 0, import: 0, remove: 0, operation: 'apply' });
  const outputs = lines.find((l) => l.type === 'outputs')!;
  assert.equal(outputs.outputs.bridge!.sensitive, false);
  assert.equal(typeof outputs.outputs.bridge!.value, 'string');
  assert.ok(types.indexOf('change_summary') > types.lastIndexOf('apply_complete'));

  const destroyed = await t.stratus('destroy', '-json', '-auto-approve', `-state=${state}`, t.dir);
  assert.equal(destroyed.code, 0, destroyed.stderr);
  const d = parse(destroyed.stdout);
  assert.deepEqual(
    d
      .filter((l) => l.type === 'apply_complete')
      .map((l) => [l.hook.resource.addr, l.hook.action])
      .sort(),
    [
      ['net', 'delete'],
      ['sub', 'delete'],
    ],
  );
  assert.deepEqual(d.find((l) => l.type === 'change_summary')!.changes, {
    add: 0,
    change: 0,
    import: 0,
    remove: 2,
    operation: 'destroy',
  });
});
