/**
 * The metadata service (issue 11 Deliver 4): 169.254.169.254:80, reached from each network's DHCP
 * namespace through the route DHCP option 121 gives, identifying the instance by network and source
 * address only.
 *
 * - A busybox guest with `configDrive: false` boots with no drive and takes its host name and its user
 *   data (a `#!` script, which runs) from the service.
 * - A namespace this test makes stands in for a guest: plugged into the network's bridge with the address
 *   of server `b` (a server whose image never boots, so the address is free on the wire), it gets b's
 *   documents and nothing of a's, whatever headers it sends; with an address no port has, every path is
 *   404. After an agent restart the service answers again.
 * - Destroy leaves no namespace, veth, address or process of the network.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  IMAGE,
  run,
  sh,
  stateIds,
  waitForReady,
} from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;
/** The stand-in guest's namespace and the host end of its veth. */
const NS = `stratus-mdguest-${process.pid}`;
const VETH = `mdg${process.pid}`.slice(0, 15);

type Res = { name: string; id: string; attributes: Record<string, unknown> };
const byName = (name: string): Res =>
  (JSON.parse(readFileSync(state, 'utf8')).resources as Res[]).find((r) => r.name === name)!;

/** GETs `paths` from namespace NS with `headers`; answers status and body of each. */
async function getFromGuest(
  paths: string[],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }[]> {
  const script = `(async () => {
    const out = [];
    for (const p of ${JSON.stringify(paths)}) {
      const r = await fetch('http://169.254.169.254' + p, { headers: ${JSON.stringify(headers)}, signal: AbortSignal.timeout(60000) });
      out.push({ status: r.status, body: await r.text() });
    }
    process.stdout.write(JSON.stringify(out));
  })()`;
  const r = await run('ip', ['netns', 'exec', NS, process.execPath, '-e', script]);
  assert.equal(r.code, 0, `fetch from ${NS} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; body: string }[];
}

/** Gives the stand-in guest address `ip`/24 (and only it), with the metadata route via `dhcpIp`. */
function standInAddress(ip: string, dhcpIp: string): void {
  must('ip', ['-n', NS, 'addr', 'flush', 'dev', 'eth0']);
  must('ip', ['-n', NS, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  must('ip', ['-n', NS, 'route', 'replace', '169.254.169.254/32', 'via', dhcpIp, 'dev', 'eth0']);
}

before(async () => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('metadata');
  await t.startAgent('--log-level', 'debug');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  // Server b's disk: zeros, so its domain never boots and never uses its address.
  const blank = join(t.dir, 'blank.raw');
  writeFileSync(blank, Buffer.alloc(1 << 20));
  writeFileSync(
    stack,
    `name: metadata
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
  blank:
    type: image
    properties:
      source: ${blank}
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.79.0.0/24
  a:
    type: server
    timeouts: { create: 40m }
    properties:
      image: \${img}
      hostname: md-a
      configDrive: false
      networks:
        - subnet: \${sub}
      userData: |
        #!/bin/sh
        echo "STRATUS-MD-USERDATA host=$(hostname)"
  b:
    type: server
    properties:
      image: \${blank}
      hostname: md-b
      memoryMb: 64
      configDrive: false
      networks:
        - subnet: \${sub}
      userData: "b's own user data"
`,
  );
});

after(async () => {
  // Already gone when the test got that far.
  sh('ip', ['netns', 'del', NS]);
  sh('ip', ['link', 'del', VETH]);
  await t.cleanup([state]);
});

/** Runs a setup command; fails the test with its stderr when it fails. */
function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

test('a guest without a config drive gets its host name and user data from 169.254.169.254; another address gets only its own or 404; destroy leaves nothing', async (ctx) => {
  const applied = await t.stratus('apply', '-auto-approve', '--state', state, stack);
  assert.equal(applied.code, 0, `apply:\n${applied.stdout}\n${applied.stderr}`);
  const a = byName('a');
  const b = byName('b');
  const net = byName('net');
  const sub = byName('sub');
  const aIp = a.attributes.accessIpV4 as string;
  const bIp = b.attributes.accessIpV4 as string;
  const dhcpIp = sub.attributes.dhcpIp as string;
  assert.ok(!existsSync(join(t.stateDir, 'instances', a.id, 'config.iso')), 'a has no config drive');

  // The stand-in guest: a namespace on the network's bridge.
  must('ip', ['netns', 'add', NS]);
  must('ip', ['link', 'add', VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS]);
  must('ip', ['link', 'set', VETH, 'master', net.attributes.bridge as string, 'up']);
  must('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
  must('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);

  // With b's address: b's documents, whatever the request claims.
  standInAddress(bIp, dhcpIp);
  const paths = [
    '/openstack/latest/meta_data.json',
    '/openstack/2018-08-27/meta_data.json',
    '/openstack/latest/user_data',
    '/latest/meta-data/instance-id',
    '/latest/meta-data/hostname',
    '/openstack',
  ];
  for (const headers of [
    {} as Record<string, string>,
    { 'X-Instance-ID': a.id, 'X-Forwarded-For': aIp, 'X-Instance-ID-Signature': '0'.repeat(64) },
  ]) {
    const got = await getFromGuest(paths, headers);
    assert.deepEqual(
      got.map((g) => g.status),
      paths.map(() => 200),
      JSON.stringify(got),
    );
    assert.equal(JSON.parse(got[0]!.body).uuid, b.id);
    assert.equal(JSON.parse(got[1]!.body).hostname, 'md-b');
    assert.equal(got[2]!.body, "b's own user data");
    assert.equal(got[3]!.body, b.id);
    assert.equal(got[4]!.body, 'md-b');
    assert.ok(got[5]!.body.split('\n').includes('2018-08-27'));
    for (const g of got) {
      assert.ok(!g.body.includes(a.id), `a's id leaked to b's address: ${g.body}`);
      assert.ok(!g.body.includes('STRATUS-MD-USERDATA'), "a's user data leaked to b's address");
    }
  }
  // With an address no port has: nothing at all.
  standInAddress('10.79.0.200', dhcpIp);
  const none = await getFromGuest(paths);
  assert.deepEqual(
    none.map((g) => g.status),
    paths.map(() => 404),
    JSON.stringify(none),
  );

  // The real guest: host name and user data from the service.
  const consoleLog = a.attributes.consoleLog as string;
  const ready = await waitForReady(consoleLog);
  const log = readFileSync(consoleLog, 'utf8');
  ctx.diagnostic(`guest a: ${JSON.stringify(ready)}`);
  assert.match(log, /stratus-init: no config drive/);
  assert.match(log, /stratus-init: metadata service/);
  assert.equal(ready.hostname, 'md-a');
  assert.equal(ready.ip, aIp);
  assert.match(log, /STRATUS-MD-USERDATA host=md-a/);
  assert.match(log, /STRATUS-USERDATA exit=0/);

  // A restarted agent serves again (its sockets died with it).
  const pid = t.agentPid();
  assert.ok(pid, 'the agent runs');
  process.kill(pid, 'SIGKILL');
  await t.startAgent('--log-level', 'debug');
  standInAddress(bIp, dhcpIp);
  const again = await getFromGuest(['/latest/meta-data/instance-id']);
  assert.deepEqual(again, [{ status: 200, body: b.id }]);

  must('ip', ['netns', 'del', NS]);
  const ids = stateIds(state).map((r) => r.id);
  const d = await t.stratus('destroy', '-auto-approve', '--state', state, stack);
  assert.equal(d.code, 0, `destroy:\n${d.stdout}\n${d.stderr}`);
  assert.deepEqual(hostObjectsFor(ids), [], 'host objects left');
  const shortId = net.id.replace(/-/g, '').slice(0, 11);
  assert.doesNotMatch(sh('ip', ['-o', 'link', 'show']), new RegExp(`tdh${shortId}`), 'the DHCP veth is gone');
  assert.doesNotMatch(sh('ip', ['netns', 'list']), new RegExp(net.id), 'the DHCP namespace is gone');
  assert.doesNotMatch(
    sh('ps', ['-eo', 'args']),
    new RegExp(`qdhcp-${net.id}`),
    'no process runs in the namespace',
  );
});
