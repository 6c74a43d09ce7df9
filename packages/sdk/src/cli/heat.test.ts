/**
 * Heat templates on the command line: `stratus validate|plan TEMPLATE -e ENV -P KEY=VALUE` as the
 * openstack and heat CLIs spell them, diagnostics at file:line:column with exit 1, and `stratus output`
 * and `state list` reading the template's own state as for a stack file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadHeatFile } from '../loaders/heat/load.js';
import { LocalBackend } from '../state/local.js';
import { applyStack } from '../testing/plan-stack.js';
import { loadChecked } from './session.js';
import { runCli } from './testing.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-heat-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const T = join(dir, 'web.yaml');
writeFileSync(
  T,
  `heat_template_version: 2018-08-31
parameters:
  cidr: {type: string, default: 10.70.0.0/24}
  mtu: {type: number, constraints: [{range: {min: 576, max: 9000}}]}
  secret: {type: string, hidden: true, default: not-shown-anywhere}
resources:
  net: {type: My::Net, properties: {mtu: {get_param: mtu}}}
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: {get_param: cidr}}
outputs:
  cidr: {value: {get_attr: [subnet, cidr]}}
  secret: {value: {get_param: secret}}
`,
);
writeFileSync(
  join(dir, 'env.yaml'),
  'resource_registry:\n  My::Net: OS::Neutron::Net\nparameters:\n  mtu: 1400\n',
);

test('validate with -e and -P (both spellings); a bad value is an error at its place, exit 1', async () => {
  const ok = await runCli(['validate', T, '-e', join(dir, 'env.yaml'), '-P', 'cidr=10.71.0.0/24']);
  assert.equal(ok.code, 0, ok.stderr);
  const long = await runCli([
    'validate',
    T,
    `--environment=${join(dir, 'env.yaml')}`,
    '--parameter',
    'mtu=1500',
  ]);
  assert.equal(long.code, 0, long.stderr);
  const bad = await runCli(['validate', T, '-e', join(dir, 'env.yaml'), '-P', 'mtu=10']);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /web\.yaml:4:3: error: parameters\.mtu: parameter mtu \(from -P mtu=\.\.\.\): the value must be in the range 576 to 9000/,
  );
  const noEnv = await runCli(['validate', T, '-P', 'mtu=1500']);
  assert.equal(noEnv.code, 1);
  assert.match(noEnv.stderr, /web\.yaml:7:15: error: resources\.net\.type: unknown resource type My::Net/);
  assert.match(noEnv.stderr, /1 error;/);
  const typo = await runCli(['validate', T, '-P', 'mtu']);
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /-P takes KEY=VALUE/);
});

test('plan -help names -environment and -parameter', async () => {
  const r = await runCli(['plan', '-help']);
  assert.match(r.stdout, /-environment=FILE/);
  assert.match(r.stdout, /-parameter=KEY=VALUE/);
});

test("output and state list read the template's own state, as for a stack file; a hidden parameter stays hidden", async () => {
  const loaded = loadHeatFile(T, { environments: [join(dir, 'env.yaml')] });
  assert.ok(loaded.config);
  const applied = await applyStack(loaded.config);
  await new LocalBackend(join(dir, 'web.stratus.state.json')).write(applied.state);
  const out = await runCli(['output', T]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, 'cidr = "10.70.0.0/24"\nsecret = (sensitive value)\n');
  const raw = await runCli(['output', T, 'cidr', '-raw']);
  assert.equal(raw.stdout, '10.70.0.0/24');
  const list = await runCli(['state', 'list', T]);
  assert.match(list.stdout, /^net\tnetwork\t[0-9a-f-]{36}\nsubnet\tsubnet\t[0-9a-f-]{36}\n$/);
});

test('RandomString: validate writes nothing; apply keeps the random seed in state, and later loads use it', async () => {
  const d = mkdtempSync(join(dir, 'random-'));
  const tpl = join(d, 'pw.yaml');
  writeFileSync(
    tpl,
    `heat_template_version: 2018-08-31
resources:
  pw: {type: OS::Heat::RandomString, properties: {length: 12, character_classes: [{class: lowercase}]}}
  net: {type: OS::Neutron::Net, properties: {name: {get_attr: [pw, value]}}}
outputs:
  pw: {value: {get_attr: [pw, value]}}
`,
  );
  const validated = await runCli(['validate', tpl]);
  assert.equal(validated.code, 0, validated.stderr);
  assert.deepEqual(readdirSync(d), ['pw.yaml'], 'validate wrote nothing');

  const first = await loadChecked(tpl, { flags: {} });
  const seed = first.config.randomSeed;
  assert.match(seed ?? '', /^[0-9a-f]{64}$/);
  const applied = await applyStack(first.config);
  assert.equal(applied.state.randomSeed, seed, 'apply keeps the seed in state');
  const name = applied.resource('net').attributes.name;
  assert.match(String(name), /^[a-z]{12}$/);
  await new LocalBackend(join(d, 'pw.stratus.state.json')).write(applied.state);

  const again = await loadChecked(tpl, { flags: {} });
  assert.equal(again.config.randomSeed, seed, "a later load takes the state's seed");
  assert.equal(again.config.resources.get('net')!.properties.name, name, 'the same value as applied');
  const shown = await runCli(['validate', tpl]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(!`${shown.stdout}${shown.stderr}`.includes(String(seed)), 'the seed is never printed');
  assert.deepEqual(readdirSync(d).sort(), ['pw.stratus.state.json', 'pw.yaml']);
});
