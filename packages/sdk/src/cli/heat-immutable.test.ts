/**
 * Immutable parameters (`immutable: true`): as Heat refuses a stack update that changes one, the plan
 * after an apply refuses it, naming the parameter at the place the new value was given, exit 1, and
 * nothing applied; the first apply and unchanged values plan normally. The state keeps only keyed
 * digests of the values (hidden ones included), never a value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadHeatFile } from '../loaders/heat/load.js';
import { LocalBackend } from '../state/local.js';
import { applyStack, planStack } from '../testing/plan-stack.js';
import { runCli } from './testing.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-heat-immutable-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const T = join(dir, 'db.yaml');
writeFileSync(
  T,
  `heat_template_version: 2021-04-16
parameters:
  cidr:
    type: string
    default: 10.81.0.0/24
    immutable: true
  mtu: {type: number, default: 1400, immutable: true}
  token: {type: string, hidden: true, immutable: true, default: s3cret-token-value}
  label: {type: string, default: first}
resources:
  net: {type: OS::Neutron::Net, properties: {name: {get_param: label}, value_specs: {mtu: {get_param: mtu}}}}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: {get_param: cidr}}
outputs:
  token: {value: {get_param: token}}
`,
);
const ENV = join(dir, 'env.yaml');

/** The template loaded with `-P` values and an optional environment file. */
function load(params: Record<string, string> = {}, env?: string) {
  const r = loadHeatFile(T, {
    parameters: new Map(Object.entries(params)),
    ...(env ? { environments: [env] } : {}),
  });
  assert.ok(r.config, r.diagnostics.items.map((d) => d.message).join('\n'));
  assert.equal(r.diagnostics.hasErrors, false, r.diagnostics.items.map((d) => d.message).join('\n'));
  return r.config;
}

test('first apply plans normally and keeps keyed digests of the values, never the values', async () => {
  const applied = await applyStack(load());
  const kept = applied.state.parameters;
  assert.ok(kept, 'the state keeps the parameters');
  assert.match(kept.salt, /^[0-9a-f]{32}$/);
  assert.deepEqual(Object.keys(kept.digests).sort(), ['cidr', 'label', 'mtu', 'token']);
  const text = JSON.stringify(kept);
  for (const v of ['s3cret-token-value', '10.81.0.0/24', 'first']) assert.ok(!text.includes(v), v);
  // Unchanged values (a number given as text converts to the same value) plan no change and no error.
  const again = await planStack(load({ mtu: '1400' }), { state: applied.state });
  assert.deepEqual(again.diagnostics, []);
  assert.ok(again.plan!.changes.every((c) => c.action === 'no-op'));
  assert.equal(again.plan!.parameters!.salt, kept.salt, 'the salt is kept, so digests compare');
  assert.deepEqual(again.plan!.parameters!.digests, kept.digests);
  // A mutable parameter may change.
  const label = await planStack(load({ label: 'second' }), { state: applied.state });
  assert.deepEqual(label.diagnostics, []);
  assert.equal(label.plan!.changes.find((c) => c.name === 'net')!.action, 'update');
});

test('a changed immutable parameter is a plan error naming it where the value was given; hidden values are not shown', async () => {
  const applied = await applyStack(load());
  writeFileSync(ENV, 'parameters:\n  cidr: 10.82.0.0/24\n');
  const fromEnv = await planStack(load({}, ENV), { state: applied.state });
  const errs = fromEnv.diagnostics.filter((d) => d.severity === 'error');
  assert.equal(errs.length, 1, JSON.stringify(errs));
  assert.equal(errs[0]!.field, 'parameters.cidr');
  assert.match(errs[0]!.message, /parameter cidr is immutable and may not be updated/);
  assert.deepEqual(errs[0]!.range, { file: ENV, line: 2, column: 3 });

  const hidden = await planStack(load({ token: 'another-secret', mtu: '1500' }), { state: applied.state });
  const herrs = hidden.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(herrs.map((d) => d.field).sort(), ['parameters.mtu', 'parameters.token']);
  const shown = JSON.stringify(hidden.diagnostics);
  assert.ok(!shown.includes('another-secret') && !shown.includes('s3cret-token-value'));
  // -P has no place in a file: the error is at the parameter's declaration.
  assert.deepEqual(herrs.find((d) => d.field === 'parameters.mtu')!.range, { file: T, line: 7, column: 3 });
});

test('a parameter becomes immutable: checked against the value the state recorded (as Heat, the new template decides)', async () => {
  const applied = await applyStack(load());
  const relaxed = readFileSync(T, 'utf8').replace(
    'label: {type: string, default: first}',
    'label: {type: string, default: first, immutable: true}',
  );
  const T2 = join(dir, 'db2.yaml');
  writeFileSync(T2, relaxed);
  const r = loadHeatFile(T2, { parameters: new Map([['label', 'changed']]) });
  const planned = await planStack(r.config!, { state: applied.state });
  assert.deepEqual(
    planned.diagnostics.filter((d) => d.severity === 'error').map((d) => d.field),
    ['parameters.label'],
  );
});

test('immutable must be true or false, at its place', () => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(
    f,
    'heat_template_version: 2021-04-16\nparameters:\n  a: {type: string, default: x, immutable: yes please}\nresources: {}\n',
  );
  const r = loadHeatFile(f, {});
  const e = r.diagnostics.items.find((d) => d.field === 'parameters.a.immutable');
  assert.ok(e, JSON.stringify(r.diagnostics.items));
  assert.equal(e.message, 'must be true or false');
  assert.deepEqual(e.range, { file: f, line: 3, column: 44 });
});

test('stratus plan: a changed immutable parameter exits 1 naming it at file:line:column; state unchanged; unchanged values plan', async () => {
  const applied = await applyStack(load());
  const statePath = join(dir, 'db.stratus.state.json');
  await new LocalBackend(statePath).write(applied.state);
  const before = readFileSync(statePath, 'utf8');
  const same = await runCli(['plan', T, '-refresh=false', '-P', 'cidr=10.81.0.0/24']);
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /No changes/);
  const changed = await runCli(['plan', T, '-refresh=false', '-P', 'cidr=10.99.0.0/24']);
  assert.equal(changed.code, 1, changed.stdout);
  assert.match(
    changed.stderr,
    /db\.yaml:3:3: error: parameters\.cidr: parameter cidr is immutable and may not be updated/,
  );
  const applyChanged = await runCli([
    'apply',
    T,
    '-auto-approve',
    '-refresh=false',
    '-P',
    'token=other-token-xyz',
  ]);
  assert.equal(applyChanged.code, 1, applyChanged.stdout);
  assert.match(applyChanged.stderr, /parameters\.token: parameter token is immutable/);
  assert.ok(
    !`${applyChanged.stdout}${applyChanged.stderr}`.includes('other-token-xyz'),
    'a hidden value is not shown',
  );
  assert.equal(readFileSync(statePath, 'utf8'), before, 'nothing changed');
});
