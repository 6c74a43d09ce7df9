/**
 * Readiness (issue 7 finding 9, issue 8 Deliver 3): the agent observes each guest's DHCP lease and reports
 * it on the server (guestStatus, leaseAt), and a server's `wait` makes apply return only once the guest
 * took its lease (`dhcp`) or accepts TCP connections (`tcp:80`). A wait that cannot be met fails the apply
 * naming the server and what did not happen, leaving the server ACTIVE. Busybox test guest, TCG: every
 * limit here is far above the slowest boot seen; nothing is timed.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, hostObjectsFor, httpGetInNetns, IMAGE, run, stateIds } from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

const stackText = (webWait: string, late = '') => `name: wait
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
  net:
    type: network
    properties: { mtu: 1500 }
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.84.0.0/24
  http:
    type: security_group
    properties:
      description: tcp from the subnet (waits and the test probe from the DHCP namespace)
      rules:
        - { direction: ingress, protocol: tcp, remoteIpPrefix: 10.84.0.0/24 }
        - { direction: egress }
  web:
    type: server
    timeouts: { create: 40m, update: 40m }
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
      securityGroups: ["\${http}"]
      wait: ${webWait}
  tcpweb:
    type: server
    timeouts: { create: 40m }
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
      securityGroups: ["\${http}"]
      wait: { for: "tcp:80", timeout: 30m }
${late}`;

/** A third server whose wait is `wait`, created after the first apply. */
const lateServer = (wait: string) => `  late:
    type: server
    timeouts: { create: 40m, update: 40m }
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
      securityGroups: ["\${http}"]
      wait: ${wait}
`;

before(async () => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('wait');
  await t.startAgent();
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  writeFileSync(stack, stackText('{ for: dhcp, timeout: 30m }'));
});

after(async () => {
  await t.cleanup([state]);
});

type Res = { name: string; id: string; attributes: Record<string, unknown> };
const resources = (): Res[] => JSON.parse(readFileSync(state, 'utf8')).resources;
const byName = (name: string): Res => resources().find((r) => r.name === name)!;

/** GET / from the network's DHCP namespace, retried once a second until it answers or `tries` run out. */
async function httpUntilAnswered(ns: string, ip: string, tries: number): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    const r = await httpGetInNetns(ns, `http://${ip}/`);
    if (r.code === 0) return r.stdout.trim();
    last = r.stderr;
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`no HTTP answer from ${ip} in ${ns}: ${last}`);
}

test('wait: apply returns once the guest leased its address (dhcp) or answers on a port (tcp:80)', async () => {
  const applied = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
  const net = byName('net');
  const ns = `qdhcp-${net.id}`;
  // Creates on a network whose dnsmasq runs reach it by SIGHUP (and dhcp_release): never a restart.
  const dnsmasqPid = () => readFileSync(join(t.stateDir, 'dhcp', net.id, 'dnsmasq.pid'), 'utf8').trim();
  const pid0 = dnsmasqPid();
  assert.ok(existsSync(`/proc/${pid0}`), 'dnsmasq runs');

  // dhcp: the lease is reported on the server when apply returns.
  const web = byName('web');
  assert.equal(web.attributes.status, 'ACTIVE');
  assert.equal(web.attributes.guestStatus, 'LEASED', JSON.stringify(web.attributes));
  assert.match(String(web.attributes.leaseAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  const leases = readFileSync(join(t.stateDir, 'dhcp', net.id, 'leases'), 'utf8');
  const [addr] = web.attributes.addresses as { ip: string; mac: string }[];
  assert.ok(leases.includes(`${addr!.mac} ${addr!.ip}`), `dnsmasq's lease file has the lease:\n${leases}`);
  // The guest has its address; its web server starts right after (retried: an event, not a time).
  assert.equal(await httpUntilAnswered(ns, web.attributes.accessIpV4 as string, 300), 'web');

  // tcp:80: HTTP answers at once when apply returns.
  const tcpweb = byName('tcpweb');
  assert.equal(tcpweb.attributes.guestStatus, 'LEASED');
  const got = await httpGetInNetns(ns, `http://${tcpweb.attributes.accessIpV4}/`);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.trim(), 'tcpweb');

  // The show command reads the same: the lease is observed live, not only at apply.
  const shown = await t.stratus('show', '--json', '--state', state, stack);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /"guestStatus": ?"LEASED"/);

  // `wait` changes in place; a port nothing listens on fails the apply after its timeout, naming the
  // server and what did not happen, for an update (web) and a create (late) alike. Both servers stay
  // ACTIVE and in state (not tainted): the next plan proposes the wait again, as an update.
  const never = '{ for: "tcp:81", timeout: 15s }';
  writeFileSync(stack, stackText(never));
  const plan = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(plan.code, 2, `${plan.stdout}\n${plan.stderr}`);
  assert.match(plan.stdout, /# server web will be updated in place/);
  assert.match(plan.stdout, /Plan: 0 to add, 1 to change, 0 to destroy\./);
  writeFileSync(stack, stackText(never, lateServer(never)));
  const failed = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.notEqual(failed.code, 0, failed.stdout);
  const said = failed.stdout + failed.stderr;
  assert.match(
    said,
    /server web \([0-9a-f-]{36}\) is ACTIVE, but its guest took its DHCP lease and nothing accepted TCP connections on 10\.84\.0\.\d+:81 within 15s/,
  );
  // A fresh guest may not even have its lease after 15 s under TCG: either is said as such.
  assert.match(
    said,
    /server late \([0-9a-f-]{36}\) is ACTIVE, but its guest (took no DHCP lease for 10\.84\.0\.\d+ \(MAC [0-9a-f:]{17}\)|took its DHCP lease and nothing accepted TCP connections on 10\.84\.0\.\d+:81) within 15s/,
  );
  assert.doesNotMatch(said, /^\s+at /m, 'no stack trace');
  const late = byName('late') as Res & { status?: string };
  assert.ok(late, 'the created server is in state');
  assert.equal(dnsmasqPid(), pid0, 'creating a server on the network left dnsmasq running as it was');
  assert.ok(existsSync(`/proc/${pid0}`));
  assert.notEqual(late.status, 'tainted', 'a complete server whose wait failed is not tainted');
  for (const id of [web.id, late.id]) {
    const domstate = await run('virsh', ['-c', 'qemu:///system', 'domstate', `stratus-${id}`]);
    assert.equal(domstate.stdout.trim(), 'running');
  }
  const again = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(again.code, 2, `${again.stdout}\n${again.stderr}`);
  assert.match(again.stdout, /# server web will be updated in place/);
  assert.match(again.stdout, /# server late will be updated in place/);
  assert.match(again.stdout, /Plan: 0 to add, 2 to change, 0 to destroy\./);

  // Waits that hold: the same servers, updated, apply succeeds.
  const ok = '{ for: "tcp:80", timeout: 30m }';
  writeFileSync(stack, stackText(ok, lateServer(ok)));
  const fixed = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(fixed.code, 0, `${fixed.stdout}\n${fixed.stderr}`);
  assert.match(fixed.stdout, /Resources: 0 added, 2 changed, 0 destroyed\./);
  assert.equal(byName('web').id, web.id);
  assert.equal(byName('late').id, late.id);

  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.deepEqual(hostObjectsFor(ids), []);
});
