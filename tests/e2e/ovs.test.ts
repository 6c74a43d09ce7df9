/**
 * The Open vSwitch network driver (issue 11, Deliver 5): a network with `driver: ovs` is an OVS bridge
 * (userspace `netdev` datapath where the openvswitch kernel module is absent, as on this machine kind),
 * its DHCP port and the guest's tap are OVS ports, and the guest gets its lease and answers HTTP from
 * the network's DHCP namespace (its security group admits tcp/80 from the subnet: OVS ports are
 * guarded by OpenFlow flows, see security-groups.test.ts). The agent's default driver applies to
 * networks that name none. The guest's OVS port deleted outside Stratus shows in the plan and apply
 * plugs it back in; a bridge deleted outside Stratus shows in the plan and apply repairs it, guest port
 * and its flows included. Destroy leaves no OVS bridge or port of the stack. Needs ovsdb-server and
 * ovs-vswitchd (scripts/setup-host.sh starts them).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, hostObjectsFor, httpGetInNetns, IMAGE, run, stateIds } from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

const STACK = `name: ovs
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
  net:
    type: network
  lbnet:
    type: network
    properties: { driver: linuxbridge }
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.86.0.0/24
  web-sg:
    type: security_group
    properties:
      rules:
        - { direction: ingress, protocol: tcp, portRangeMin: 80, portRangeMax: 80, remoteIpPrefix: 10.86.0.0/24 }
        - { direction: egress }
  web:
    type: server
    timeouts: { create: 40m, update: 40m }
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
      securityGroups: ["\${web-sg}"]
      wait: { for: "tcp:80", timeout: 30m }
`;

type Res = { name: string; id: string; attributes: Record<string, unknown> };
const byName = (name: string): Res =>
  (JSON.parse(readFileSync(state, 'utf8')).resources as Res[]).find((r) => r.name === name)!;
const vsctl = async (...args: string[]) => (await run('ovs-vsctl', ['--timeout=30', ...args])).stdout.trim();

before(async () => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('ovs');
  // Networks that name no driver get OVS from this agent.
  await t.startAgent('--network-driver', 'ovs');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  writeFileSync(stack, STACK);
});

after(async () => {
  await t.cleanup([state]);
});

test('driver ovs: OVS bridge and ports, DHCP and HTTP to the guest, drift repaired, nothing left', async () => {
  const applied = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
  const net = byName('net');
  const web = byName('web');
  assert.equal(net.attributes.driver, 'ovs', 'the agent default applies to a network naming none');
  assert.equal(byName('lbnet').attributes.driver, 'linuxbridge');
  const bridge = String(net.attributes.bridge);
  assert.match(bridge, /^bro[0-9a-f]{11}$/);
  const datapath = existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
  assert.equal(await vsctl('get', 'bridge', bridge, 'datapath_type'), datapath);
  assert.equal(await vsctl('br-get-external-id', bridge, 'stratus-network-id'), net.id);
  // The guest's tap and the DHCP port are ports of the network's OVS bridge.
  const ports = (await vsctl('list-ports', bridge)).split('\n');
  assert.ok(
    ports.some((p) => p.startsWith(`tap${web.id.replace(/-/g, '').slice(0, 10)}`)),
    ports.join(' '),
  );
  assert.ok(
    ports.some((p) => p.startsWith('tdh')),
    ports.join(' '),
  );
  // The Linux-bridge network is a Linux bridge, not an OVS one.
  const lbBridge = String(byName('lbnet').attributes.bridge);
  assert.match(lbBridge, /^brq/);
  assert.ok(!(await vsctl('list-br')).split('\n').includes(lbBridge));

  const ns = `qdhcp-${net.id}`;
  const got = await httpGetInNetns(ns, `http://${web.attributes.accessIpV4}/`);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.trim(), 'web');
  assert.equal(web.attributes.guestStatus, 'LEASED');

  // No perpetual diff: the computed driver is settled.
  const plan = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(plan.code, 0, `${plan.stdout}\n${plan.stderr}`);

  // Drift: the guest's OVS port removed outside Stratus shows in the plan as the server's; apply plugs
  // the running guest back in (the domain untouched), so HTTP answers again.
  const tap = ports.find((p) => p.startsWith(`tap${web.id.replace(/-/g, '').slice(0, 10)}`))!;
  const domid = async () =>
    (await run('virsh', ['-c', 'qemu:///system', 'domid', `stratus-${web.id}`])).stdout.trim();
  const domainBefore = await domid();
  await run('ovs-vsctl', ['--timeout=30', 'del-port', bridge, tap]);
  const unplugged = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(unplugged.code, 2, `${unplugged.stdout}\n${unplugged.stderr}`);
  assert.match(
    unplugged.stdout,
    new RegExp(
      `server web will be updated in place \\(drift: .*NIC [0-9a-f:]+ \\(${tap}\\) is not plugged into ${bridge}`,
    ),
  );
  const replugged = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(replugged.code, 0, `${replugged.stdout}\n${replugged.stderr}`);
  assert.ok((await vsctl('list-ports', bridge)).split('\n').includes(tap), 'the tap is a port again');
  assert.equal(await domid(), domainBefore, 'the domain was not restarted');
  const back = await httpGetInNetns(ns, `http://${web.attributes.accessIpV4}/`);
  assert.equal(back.stdout.trim(), 'web', `the guest answers through its port again: ${back.stderr}`);
  const calmAgain = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(calmAgain.code, 0, `${calmAgain.stdout}\n${calmAgain.stderr}`);

  // Drift: the OVS bridge removed outside Stratus shows in the plan; apply recreates it and plugs the
  // running guest back in, so HTTP answers again.
  await run('ovs-vsctl', ['--timeout=30', 'del-br', bridge]);
  const drifted = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(drifted.code, 2, `${drifted.stdout}\n${drifted.stderr}`);
  assert.match(drifted.stdout, /network net/);
  const repaired = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(repaired.code, 0, `${repaired.stdout}\n${repaired.stderr}`);
  assert.ok((await vsctl('list-ports', bridge)).includes(`tap${web.id.replace(/-/g, '').slice(0, 10)}`));
  let answer = '';
  for (let i = 0; i < 120 && answer !== 'web'; i++) {
    const r = await httpGetInNetns(ns, `http://${web.attributes.accessIpV4}/`);
    answer = r.stdout.trim();
    if (answer !== 'web') await new Promise((res) => setTimeout(res, 1000));
  }
  assert.equal(answer, 'web', 'the guest answers through the recreated bridge');

  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.deepEqual(hostObjectsFor(ids), []);
});
