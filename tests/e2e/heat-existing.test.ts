/**
 * A Heat template naming objects it does not declare, as real templates do (`image: debian-12` for a
 * Glance image that exists): a stack file first makes an image, a network and subnet, a flavor, two
 * server groups (anti-affinity holding one server already, soft-anti-affinity) on this test's own
 * agent; then a template names them (image through a glance.image-constrained parameter, flavor,
 * network, the `default` security group, `scheduler_hints: {group}`) and applies: its server boots on
 * them. The plan is then empty; a name that matches nothing is an error at its line; moving the server
 * into the anti-affinity group plans its replacement and fails at apply with Nova's "No valid host was
 * found" (the group's one member per host is taken on the only host), leaving no server behind;
 * destroy leaves nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, hostObjectsFor, IMAGE, stateIds } from './helpers.js';

let t: AgentEnv;
let base: string;
let baseState: string;
let template: string;
let heatState: string;

before(() => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('heat-existing');
  // The cleanup destroys with `stack.yaml` of the env's directory: the base stack is that file.
  base = join(t.dir, 'stack.yaml');
  baseState = join(t.dir, 'base.state.json');
  template = join(t.dir, 'app.yaml');
  heatState = join(t.dir, 'app.state.json');
  writeFileSync(
    base,
    `name: heat-existing-base
resources:
  img:
    type: image
    properties: { name: h14-guest, source: ${IMAGE} }
  net:
    type: network
    properties: { name: h14-net }
  sub:
    type: subnet
    properties: { name: h14-sub, network: "\${net}", cidr: 10.214.0.0/24 }
  tiny:
    type: flavor
    properties: { name: h14-tiny, vcpus: 1, ramMb: 256 }
  solo:
    type: server_group
    properties: { name: h14-solo, policy: anti-affinity }
  spread:
    type: server_group
    properties: { name: h14-spread, policy: soft-anti-affinity }
  first:
    type: server
    properties:
      image: \${img}
      flavor: \${tiny}
      networks: [{ subnet: "\${sub}" }]
      serverGroup: \${solo}
`,
  );
  writeFileSync(
    template,
    `heat_template_version: 2018-08-31
parameters:
  image:
    type: string
    default: h14-guest
    constraints: [{custom_constraint: glance.image}]
  group: {type: string, default: h14-spread}
resources:
  web:
    type: OS::Nova::Server
    properties:
      image: {get_param: image}
      flavor: h14-tiny
      networks: [{network: h14-net}]
      security_groups: [default]
      scheduler_hints: {group: {get_param: group}}
outputs:
  ip: {value: {get_attr: [web, first_address]}}
`,
  );
});

after(async () => {
  await t.cleanup([heatState, baseState]);
});

test('heat names of existing objects: resolved on the agent, applied, plan empty; no valid host under anti-affinity; destroy', async () => {
  const applied = await t.stratus('apply', '-auto-approve', '-state', baseState, base);
  assert.equal(applied.code, 0, `base apply failed:\n${applied.stdout}\n${applied.stderr}`);
  const baseRes = stateIds(baseState);
  const id = (n: string) => baseRes.find((r) => r.name === n)!.id;

  // A name that matches nothing on the agent: an error at the parameter, listing what is there.
  const bad = await t.stratus('plan', '-state', heatState, template, '-P', 'image=nope');
  assert.equal(bad.code, 1, `${bad.stdout}\n${bad.stderr}`);
  assert.match(
    bad.stderr,
    /app\.yaml:\d+:\d+: error: parameters\.image: parameter image \(custom constraint glance\.image\): no image named "nope" in the template or on the agent \(images there: h14-guest\)/,
  );

  const up = await t.stratus('apply', '-auto-approve', '-state', heatState, template);
  assert.equal(up.code, 0, `heat apply failed:\n${up.stdout}\n${up.stderr}`);
  assert.match(up.stdout, /Apply complete! Resources: 1 added, 0 changed, 0 destroyed\./);
  const doc = JSON.parse(readFileSync(heatState, 'utf8'));
  const web = doc.resources.find((r: { name: string }) => r.name === 'web');
  assert.equal(web.attributes.image, id('img'));
  assert.equal(web.attributes.flavor, id('tiny'));
  assert.equal(web.attributes.serverGroup, id('spread'));
  assert.equal(web.attributes.networks[0].network, id('net'));
  assert.deepEqual(web.attributes.securityGroups, ['00000000-0000-4000-8000-00000000d0f1']);
  assert.equal(web.attributes.status, 'ACTIVE');
  assert.match(web.attributes.accessIpV4, /^10\.214\.0\.\d+$/);

  // The agent lists the server as a member of the soft-anti-affinity group, beside `first` in the other.
  const groups = await t.stratus('list', 'server_groups', '-json');
  assert.equal(groups.code, 0, groups.stderr);
  const members = Object.fromEntries(
    (JSON.parse(groups.stdout) as { name: string; attributes: { members: string[] } }[]).map((g) => [
      g.name,
      g.attributes.members,
    ]),
  );
  assert.deepEqual(members, { 'h14-solo': [id('first')], 'h14-spread': [web.id] });

  const noop = await t.stratus('plan', '-detailed-exitcode', '-state', heatState, template);
  assert.equal(noop.code, 0, `${noop.stdout}\n${noop.stderr}`);
  assert.match(noop.stdout, /No changes/);

  // Into the anti-affinity group, whose one member per host is taken on the only host: Nova's answer.
  const moved = await t.stratus(
    'apply',
    '-auto-approve',
    '-state',
    heatState,
    template,
    '-P',
    'group=h14-solo',
  );
  assert.equal(moved.code, 1, `${moved.stdout}\n${moved.stderr}`);
  assert.match(moved.stdout, /# server web must be replaced/);
  assert.match(
    `${moved.stdout}\n${moved.stderr}`,
    /No valid host was found: server group [0-9a-f-]+ \(anti-affinity, at most 1 member per host\) already has/,
  );
  const servers = await t.stratus('list', 'servers', '-json');
  assert.deepEqual(
    (JSON.parse(servers.stdout) as { id: string }[]).map((s) => s.id),
    [id('first')],
    'the refused server left nothing behind',
  );

  const ids = [...stateIds(heatState), ...baseRes].map((r) => r.id);
  const downApp = await t.stratus('destroy', '-auto-approve', '-state', heatState, template);
  assert.equal(downApp.code, 0, `${downApp.stdout}\n${downApp.stderr}`);
  const downBase = await t.stratus('destroy', '-auto-approve', '-state', baseState, base);
  assert.equal(downBase.code, 0, `${downBase.stdout}\n${downBase.stderr}`);
  assert.match(downBase.stdout, /Resources: 0 added, 0 changed, 7 destroyed\./);
  assert.deepEqual(hostObjectsFor([...ids, web.id]), []);
  const left = await t.stratus('list', '-json');
  assert.deepEqual(JSON.parse(left.stdout), []);
});
