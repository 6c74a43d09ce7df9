/**
 * examples/heat/quickstart.yaml applied for real: a Heat template boots a VM whose user data comes from
 * an OS::Heat::SoftwareConfig with a -P parameter in it; the guest serves it over HTTP (checked from the
 * network's DHCP namespace); the plan is then empty; outputs read as for a stack file; a parameter
 * change plans the server's replacement; destroy leaves nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  httpGetInNetns,
  IMAGE,
  ROOT,
  stateIds,
  waitForReady,
} from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

before(() => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('heat');
  // The cleanup destroys `stack.yaml` of the env's directory: the template is copied there, its image
  // path made absolute.
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  const text = readFileSync(join(ROOT, 'examples/heat/quickstart.yaml'), 'utf8').replace(
    'default: ../../build/images/stratus-guest.qcow2',
    `default: ${IMAGE}`,
  );
  assert.ok(text.includes(IMAGE));
  writeFileSync(stack, text);
});

after(async () => {
  await t.cleanup([state]);
});

test('heat quickstart: apply, reach the guest, plan empty, outputs, a parameter change, destroy', async () => {
  const applied = await t.stratus(
    'apply',
    '-auto-approve',
    '-state',
    state,
    stack,
    '-P',
    'greeting=hi from -P',
  );
  assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /Apply complete! Resources: 6 added, 0 changed, 0 destroyed\./);
  const doc = JSON.parse(readFileSync(state, 'utf8'));
  const byName = (n: string) => doc.resources.find((r: { name: string }) => r.name === n);
  const web = byName('web');
  const net = byName('net');
  assert.equal(web.attributes.flavor, byName('tiny').id, 'flavor m1.tiny named the template flavor');

  const ready = await waitForReady(web.attributes.consoleLog);
  const ip = ready.ip!.split(',')[0]!;
  assert.equal(ip, web.attributes.accessIpV4);
  const hello = await httpGetInNetns(`qdhcp-${net.id}`, `http://${ip}/hello.txt`);
  assert.equal(hello.code, 0, hello.stderr);
  assert.equal(hello.stdout.trim(), 'hi from -P', 'the SoftwareConfig ran with the -P value');

  const noop = await t.stratus(
    'plan',
    '-detailed-exitcode',
    '-state',
    state,
    stack,
    '-P',
    'greeting=hi from -P',
  );
  assert.equal(noop.code, 0, `${noop.stdout}\n${noop.stderr}`);
  assert.match(noop.stdout, /No changes/);

  const out = await t.stratus('output', '-state', state, stack, 'web_url', '-raw');
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, `http://${ip}/hello.txt`);

  const changed = await t.stratus('plan', '-detailed-exitcode', '-state', state, stack, '-P', 'greeting=bye');
  assert.equal(changed.code, 2, `${changed.stdout}\n${changed.stderr}`);
  assert.match(changed.stdout, /# server web must be replaced/);
  assert.match(changed.stdout, /Plan: 1 to add, 0 to change, 1 to destroy\./);

  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '-auto-approve', '-state', state, stack);
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.match(destroyed.stdout, /Resources: 0 added, 0 changed, 6 destroyed\./);
  assert.deepEqual(hostObjectsFor(ids), []);
});
