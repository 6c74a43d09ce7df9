import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AgentClient } from '@stratus/sdk/client';
import { type AgentEnv, agentEnv, hostObjectsFor, IMAGE, run, stateIds } from './helpers.js';

let t: AgentEnv;
const bridge = `brleg${randomUUID().slice(0, 6)}`;
const domain = `legacy-${randomUUID().slice(0, 8)}`;
const domainUuid = randomUUID();
let state: string;

before(async () => {
  t = agentEnv('import');
  state = join(t.dir, 'state.json');
  await t.startAgent();
});

after(async () => {
  await run('virsh', ['-c', 'qemu:///system', 'destroy', domainUuid]);
  await run('virsh', ['-c', 'qemu:///system', 'undefine', domainUuid]);
  await run('ip', ['link', 'delete', bridge]);
  await t.cleanup([state]);
});

const STACK = `name: legacy
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
  net:
    type: network
    properties:
      name: ${bridge}
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.77.0.0/24
  vm:
    type: server
    properties:
      name: ${domain}
      image: \${img}
      networks:
        - network: \${net}
`;

test('a domain and a bridge made outside Stratus are imported, then the plan is empty', async () => {
  const stack = join(t.dir, 'stack.yaml');
  writeFileSync(stack, STACK);
  const ok = (r: { code: number; stdout: string; stderr: string }) =>
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);

  // The image Stratus manages; then, by hand: a bridge, and a VM on an overlay of that image.
  ok(await t.stratus('apply', '--auto-approve', '-target', 'img', '--state', state, stack));
  const imgId = stateIds(state).find((r) => r.name === 'img')!.id;
  ok(await run('ip', ['link', 'add', bridge, 'type', 'bridge']));
  ok(await run('ip', ['link', 'set', bridge, 'up']));
  const disk = join(t.dir, 'legacy.qcow2');
  ok(
    await run('qemu-img', [
      'create',
      '-f',
      'qcow2',
      '-F',
      'qcow2',
      '-b',
      join(t.stateDir, 'images', imgId),
      disk,
    ]),
  );
  const client = new AgentClient({
    socket: t.env.STRATUS_AGENT_SOCKET!,
    tokenFile: join(t.stateDir, 'token'),
  });
  const { virtType } = await client.get<{ virtType: string }>('/v1/host');
  await client.close();
  const xml = join(t.dir, 'legacy.xml');
  writeFileSync(
    xml,
    `<domain type='${virtType}'><name>${domain}</name><uuid>${domainUuid}</uuid><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
    <interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='${bridge}'/><model type='virtio'/></interface>
    <serial type='pty'/><console type='pty'/>
  </devices></domain>`,
  );
  ok(await run('virsh', ['-c', 'qemu:///system', 'define', xml]));
  ok(await run('virsh', ['-c', 'qemu:///system', 'start', domain]));

  const imported = await t.stratus('import', 'net', bridge, '--state', state, '--stack', stack);
  ok(imported);
  assert.match(imported.stderr, new RegExp(`Imported network ${bridge} as net`));
  ok(await t.stratus('apply', '--auto-approve', '-target', 'sub', '--state', state, stack));
  ok(await t.stratus('import', 'vm', domain, '--state', state, '--stack', stack));
  assert.equal(
    stateIds(state).find((r) => r.name === 'vm')!.id,
    domainUuid,
    'the server keeps the domain uuid as its id',
  );

  const plan = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(plan.code, 0, `${plan.stdout}\n${plan.stderr}`);
  assert.match(plan.stdout, /No changes/);
  // Importing the same objects again is refused.
  const again = await t.stratus('import', 'vm', domain, '--state', state, '--stack', stack);
  assert.equal(again.code, 1);

  const ids = stateIds(state).map((r) => r.id);
  ok(await t.stratus('destroy', '--auto-approve', '--state', state, stack));
  assert.deepEqual(hostObjectsFor(ids), []);
  assert.equal(
    (await run('virsh', ['-c', 'qemu:///system', 'domstate', domainUuid])).code,
    1,
    'imported domain destroyed',
  );
  assert.equal((await run('ip', ['link', 'show', bridge])).code, 1, 'imported bridge destroyed');
});
