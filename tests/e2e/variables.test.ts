/**
 * Variables and repetition for real (issue 9, Deliver 2): examples/vars (a sensitive variable, one
 * with a validation rule, locals, `count: 3` servers and a `forEach` of two networks) plans and applies
 * against a private agent; `-target 'web[1]'` applies web[1] and what it needs only; count 3 -> 2
 * destroys exactly web[2]; a value failing validation is an error at its rule; the sensitive value
 * never appears in any output. The servers boot concurrently (apply's parallelism) and are small.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, hostObjectsFor, IMAGE, ROOT, run, stateIds } from './helpers.js';

let t: AgentEnv;
/** The sensitive value: it must reach the guests' user data and never any output. */
const SECRET = `pw-${Math.random().toString(36).slice(2)}`;
const outputs: string[] = [];
let stack: string;
let state: string;
let varFile: string;

before(() => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('vars');
  const stratus = t.stratus;
  t.stratus = async (...args) => {
    const r = await stratus(...args);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  varFile = join(t.dir, 'vars.json');
  // The example as shipped, with the image path made absolute since the copy lives elsewhere, and
  // the smallest memory the guest boots with.
  const text = readFileSync(join(ROOT, 'examples/vars/stack.yaml'), 'utf8').replace(
    'source: ../../build/images/stratus-guest.qcow2',
    `source: ${IMAGE}`,
  );
  assert.ok(text.includes(IMAGE));
  writeFileSync(stack, text);
  writeFileSync(varFile, JSON.stringify({ servers: 3, memory_mb: 128 }));
});

after(async () => {
  // cleanup destroys through the stack, which needs the required variable.
  t.env.STRATUS_VAR_admin_password = SECRET;
  await t.cleanup([state]);
});

const withVars = (...args: string[]) => [...args, '-var-file', varFile, '-var', `admin_password=${SECRET}`];

/** The resource names state lists. */
async function stateList(): Promise<string[]> {
  const r = await t.stratus('state', 'list', '-state', state, stack);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0]!)
    .sort();
}

test('variables, locals, count and forEach: plan, -target, apply, count 3 -> 2, validation, secrecy, destroy', async () => {
  // A value failing its validation rule: an error at the rule's line and column, nothing changed.
  const bad = await t.stratus('plan', '-state', state, ...withVars(stack), '-var', 'servers=9');
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    new RegExp(`${stack}:18:18: error: variables\\.servers: servers must be between 1 and 5\\.`),
  );
  assert.equal(existsSync(state), false);

  // A required variable without a value, with -input=false: refused with what to do.
  const missing = await t.stratus('plan', '-input=false', '-state', state, stack);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /variable admin_password is required and has no value: give -var admin_password=VALUE.*-input=false forbids asking/,
  );

  // The whole plan: 1 image, 2 networks, 2 subnets, 3 servers, with their addresses.
  const plan = await t.stratus('plan', '-state', state, ...withVars(stack));
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /Plan: 8 to add, 0 to change, 0 to destroy\./);
  for (const a of [
    'server web[0]',
    'server web[1]',
    'server web[2]',
    'network net["front"]',
    'subnet subnet["back"]',
  ])
    assert.ok(plan.stdout.includes(`# ${a} will be created`), `plan shows ${a}:\n${plan.stdout}`);
  assert.match(plan.stdout, /\+ cidr = "10\.40\.1\.0\/24"/);
  assert.match(plan.stdout, /\+ userData = \(sensitive value\)/);

  // -target 'web[1]': web[1] and what it depends on, nothing else.
  const targeted = await t.stratus(
    'apply',
    '-auto-approve',
    '-target',
    'web[1]',
    '-state',
    state,
    ...withVars(stack),
  );
  assert.equal(targeted.code, 0, `${targeted.stdout}\n${targeted.stderr}`);
  assert.match(targeted.stdout, /Apply complete! Resources: 4 added, 0 changed, 0 destroyed\./);
  assert.deepEqual(await stateList(), ['guest-image', 'net["front"]', 'subnet["front"]', 'web[1]']);

  // The rest: three servers in all, booted concurrently by one apply.
  const applied = await t.stratus('apply', '-auto-approve', '-state', state, ...withVars(stack));
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /Apply complete! Resources: 4 added, 0 changed, 0 destroyed\./);
  assert.deepEqual(await stateList(), [
    'guest-image',
    'net["back"]',
    'net["front"]',
    'subnet["back"]',
    'subnet["front"]',
    'web[0]',
    'web[1]',
    'web[2]',
  ]);
  const doc = JSON.parse(readFileSync(state, 'utf8')) as {
    resources: { name: string; id: string; attributes: Record<string, unknown> }[];
  };
  const byName = new Map(doc.resources.map((r) => [r.name, r]));
  for (const i of [0, 1, 2]) {
    const w = byName.get(`web[${i}]`)!;
    assert.equal(w.attributes.name, `web-${i}`);
    assert.equal(w.attributes.memoryMb, 128);
    assert.equal(w.attributes.accessIpV4, `10.40.0.${10 + i}`, 'cidrhost(cidrsubnet(...)) per count.index');
    const st = await run('virsh', ['-c', 'qemu:///system', 'domstate', `stratus-${w.id}`]);
    assert.equal(st.stdout.trim(), 'running');
  }
  // The secret reached the guests (their user data) through the variable.
  assert.ok(String(byName.get('web[0]')!.attributes.userData).includes(`root:${SECRET}`));
  const out = await t.stratus('output', '-state', state, stack);
  assert.match(out.stdout, /first_ip = "10\.40\.0\.10"/);
  assert.match(out.stdout, /back_cidr = "10\.40\.1\.0\/24"/);
  const show = await t.stratus('state', 'show', '-state', state, stack, 'web[2]');
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /userData = "\(sensitive value\)"/);
  const showJson = await t.stratus('show', '-json', '-state', state, stack);
  assert.equal(showJson.code, 0, showJson.stderr);
  const planJson = await t.stratus('plan', '-json', '-state', state, ...withVars(stack));
  assert.equal(planJson.code, 0, planJson.stderr);

  // count 3 -> 2: exactly web[2] is destroyed, and its domain is gone.
  const web2 = byName.get('web[2]')!.id;
  const shrink = await t.stratus(
    'apply',
    '-auto-approve',
    '-state',
    state,
    ...withVars(stack),
    '-var',
    'servers=2',
  );
  assert.equal(shrink.code, 0, `${shrink.stdout}\n${shrink.stderr}`);
  assert.match(shrink.stdout, /# server web\[2\] will be destroyed/);
  assert.match(shrink.stdout, /Apply complete! Resources: 0 added, 0 changed, 1 destroyed\./);
  assert.deepEqual(
    (await stateList()).filter((n) => n.startsWith('web')),
    ['web[0]', 'web[1]'],
  );
  assert.deepEqual(hostObjectsFor([web2]), []);

  // Destroy leaves nothing on the host.
  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '-auto-approve', '-state', state, ...withVars(stack));
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.match(destroyed.stdout, /Destroy complete! Resources: 0 added, 0 changed, 7 destroyed\./);
  assert.deepEqual(hostObjectsFor(ids), []);

  // The sensitive value never appeared in anything the CLI printed.
  for (const o of outputs) assert.ok(!o.includes(SECRET), `the secret leaked:\n${o}`);
});
