import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ipToInt, parseCidr } from '@stratus/model';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  httpGetInNetns,
  IMAGE,
  imageCache,
  ROOT,
  run,
  stateIds,
  waitForReady,
} from './helpers.js';

let t: AgentEnv;
/** A sensitive value: it must reach the guest's config drive and never any output or log. */
const SECRET = `hunter2-${Math.random().toString(36).slice(2)}`;
const outputs: string[] = [];
let stack: string;
let state: string;

before(() => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('quickstart');
  const stratus = t.stratus;
  t.stratus = async (...args) => {
    const r = await stratus(...args);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  // The quickstart as shipped, with the image path made absolute since the copy lives elsewhere.
  const text = readFileSync(join(ROOT, 'examples/quickstart/stack.yaml'), 'utf8')
    .replace('source: ../../build/images/stratus-guest.qcow2', `source: ${IMAGE}`)
    .replace('      memoryMb: 256\n', `      memoryMb: 256\n      adminPass: ${SECRET}\n`);
  assert.ok(text.includes(SECRET));
  writeFileSync(stack, text);
});

after(async () => {
  await t.cleanup([state]);
});

test('quickstart: apply, boot, reach over HTTP, plan empty, repair drift, plan a change, destroy leaves nothing', async () => {
  const applied = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
  assert.match(
    applied.stderr,
    /started one .*Its log: .*agent\.log/,
    'the CLI starts the local agent and says where its log is',
  );
  assert.match(applied.stdout, /Apply complete! Resources: 5 added, 0 changed, 0 destroyed\./);
  assert.match(
    applied.stdout,
    /Server web is ACTIVE on qemu at 10\.20\.0\.\d+/,
    'TCG here: the agent must pick qemu',
  );
  assert.match(applied.stdout, /Console log: +tail -f \S+console\.log/);

  const doc = JSON.parse(readFileSync(state, 'utf8'));
  const web = doc.resources.find((r: { name: string }) => r.name === 'web');
  const net = doc.resources.find((r: { name: string }) => r.name === 'net');
  const sub = doc.resources.find((r: { name: string }) => r.name === 'subnet');
  assert.equal(web.attributes.hypervisor, 'qemu');

  const domains = await run('virsh', ['-c', 'qemu:///system', 'domstate', `stratus-${web.id}`]);
  assert.equal(domains.stdout.trim(), 'running');

  const ready = await waitForReady(web.attributes.consoleLog);
  assert.equal(ready.hostname, 'web', 'hostname comes from the config drive');

  // The guest booted, so QEMU's user read its disks; nobody else can (issue 7, finding 11).
  const asNobody = (...args: string[]) => run('runuser', ['-u', 'nobody', '--', ...args]);
  for (const top of ['images', 'instances']) {
    const root = join(t.stateDir, top);
    const dirs = [
      root,
      ...readdirSync(root, { recursive: true, withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(e.parentPath, e.name)),
    ];
    const files = readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
    assert.ok(files.length > 0, `files under ${root}`);
    for (const d of dirs) assert.notEqual((await asNobody('ls', d)).code, 0, `nobody listed ${d}`);
    for (const f of files)
      assert.match((await asNobody('head', '-c', '1', f)).stderr, /Permission denied/, `nobody read ${f}`);
  }
  const cidr = parseCidr(sub.attributes.cidr);
  const ip = ready.ip!.split(',')[0]!;
  assert.ok(
    ipToInt(ip) > cidr.network && ipToInt(ip) < cidr.broadcast,
    `${ip} inside ${sub.attributes.cidr}`,
  );
  assert.equal(ip, web.attributes.accessIpV4);

  // From inside the network's DHCP namespace: the guest answers its hostname on port 80.
  const got = await httpGetInNetns(`qdhcp-${net.id}`, `http://${ip}/`);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.trim(), 'web');
  // The user data ran.
  const hello = await httpGetInNetns(`qdhcp-${net.id}`, `http://${ip}/hello.txt`);
  assert.equal(hello.stdout.trim(), 'hello from user data');

  const noop = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(noop.code, 0, `${noop.stdout}\n${noop.stderr}`);
  assert.match(noop.stdout, /No changes/);

  // The booted server in the inventory (issue 9): status, guest status, host, address, image, its stack.
  const listed = await t.stratus('list', 'servers');
  assert.equal(listed.code, 0, listed.stderr);
  const row = listed.stdout.split('\n').find((l) => l.includes(web.id)) ?? '';
  const guestImage = doc.resources.find((r: { name: string }) => r.name === 'guest-image').id;
  assert.match(
    row,
    new RegExp(
      `^\\| ${web.id} \\| web +\\| ACTIVE +\\| local \\| ${net.id}=${ip.replace(/\./g, '\\.')} +\\| ${guestImage} \\| .* \\| quickstart: web +\\|$`,
    ),
    listed.stdout,
  );
  // Its second line holds the guest status the agent saw (it took its lease).
  const next = listed.stdout.split('\n')[listed.stdout.split('\n').indexOf(row) + 1] ?? '';
  assert.match(next, /^\| +\| +\| LEASED +\|/, listed.stdout);

  // Drift made outside Stratus shows in the plan as such, and apply repairs it.
  const driftPlan = async (pattern: RegExp) => {
    const p = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(p.code, 2, `${p.stdout}\n${p.stderr}`);
    assert.match(p.stdout, pattern);
    const a = await t.stratus('apply', '--auto-approve', '--state', state, stack);
    assert.equal(a.code, 0, `${a.stdout}\n${a.stderr}`);
    assert.match(a.stdout, /Resources: 0 added, 1 changed, 0 destroyed\./);
  };
  const bridge = net.attributes.bridge as string;
  assert.equal((await run('ip', ['link', 'delete', bridge])).code, 0);
  await driftPlan(
    /# network net will be updated in place \(drift: its bridge brq\w+ was deleted outside Stratus\)/,
  );
  const tap = await run('ip', ['-o', 'link', 'show', 'master', bridge]);
  assert.match(tap.stdout, /tap/, 'the running guest is plugged back into the recreated bridge');
  const again = await httpGetInNetns(`qdhcp-${net.id}`, `http://${ip}/`);
  assert.equal(again.stdout.trim(), 'web', 'the guest is reachable again without a reboot');

  const domain = `stratus-${web.id}`;
  assert.equal((await run('virsh', ['-c', 'qemu:///system', 'destroy', domain])).code, 0);
  await driftPlan(
    /# server web will be updated in place \(drift: its libvirt domain was stopped outside Stratus\)/,
  );
  assert.equal((await run('virsh', ['-c', 'qemu:///system', 'domstate', domain])).stdout.trim(), 'running');
  await run('virsh', ['-c', 'qemu:///system', 'destroy', domain]);
  assert.equal((await run('virsh', ['-c', 'qemu:///system', 'undefine', domain])).code, 0);
  await driftPlan(
    /# server web will be updated in place \(drift: its libvirt domain was deleted outside Stratus\)/,
  );
  assert.equal((await run('virsh', ['-c', 'qemu:///system', 'domstate', domain])).stdout.trim(), 'running');
  // Its definition changed with virsh (two vCPUs from the next boot on): put back, with a restart.
  assert.equal(
    (await run('virsh', ['-c', 'qemu:///system', 'setvcpus', domain, '2', '--config', '--maximum'])).code,
    0,
  );
  assert.equal((await run('virsh', ['-c', 'qemu:///system', 'setvcpus', domain, '2', '--config'])).code, 0);
  await driftPlan(
    /# server web will be updated in place \(drift: its libvirt domain was changed outside Stratus: vcpus 2, want 1\)/,
  );
  const vcpus = await run('virsh', ['-c', 'qemu:///system', 'vcpucount', domain, '--config', '--maximum']);
  assert.equal(vcpus.stdout.trim(), '1');
  assert.equal((await run('virsh', ['-c', 'qemu:///system', 'domstate', domain])).stdout.trim(), 'running');
  const settled = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(settled.code, 0, settled.stdout + settled.stderr);

  const out = await t.stratus('output', 'web_ip', '--state', state, '--stack', stack);
  assert.equal(out.stdout.trim(), ip);

  writeFileSync(stack, readFileSync(stack, 'utf8').replace('hello from user data', 'changed user data'));
  const changed = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(changed.code, 2, `${changed.stdout}\n${changed.stderr}`);
  assert.match(changed.stdout, /# server web must be replaced/);
  assert.match(changed.stdout, /~ userData = .* # forces replacement/s);
  assert.match(changed.stdout, /Plan: 1 to add, 0 to change, 1 to destroy\./);

  for (const args of [['show'], ['show', '--json'], ['plan', '--json']])
    await t.stratus(...args, '--state', state, stack);
  await t.stratus('state', 'show', 'web', '--state', state, '--stack', stack);
  const meta = await run('isoinfo', [
    '-R',
    '-i',
    join(t.stateDir, 'instances', web.id, 'config.iso'),
    '-x',
    '/openstack/latest/meta_data.json',
  ]);
  assert.equal(JSON.parse(meta.stdout).admin_pass, SECRET, 'the guest gets its admin password');
  assert.ok(outputs.join('\n').includes('(sensitive value)'));
  assert.equal(outputs.filter((o) => o.includes(SECRET)).length, 0, 'no CLI output shows the secret');
  assert.equal(
    readFileSync(join(t.stateDir, 'agent.log'), 'utf8').includes(SECRET),
    false,
    'the agent log does not',
  );

  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.match(destroyed.stdout, /Resources: 0 added, 0 changed, 5 destroyed\./);
  assert.deepEqual(hostObjectsFor(ids), []);
  assert.equal(existsSync(join(t.stateDir, 'instances', web.id)), false, 'instance dir removed');
  assert.deepEqual(imageCache(t.stateDir), [], 'image cache emptied');
  for (const c of ['servers', 'subnets', 'networks', 'images'])
    assert.deepEqual(readdirSync(join(t.stateDir, 'records', c)), [], `no ${c} records left`);
});
