/**
 * Routers, floating IPs and external networks (issue 11, Deliver 2, acceptance): a private subnet behind
 * a router to an external network. The outside is a bridge and a namespace this test creates (TEST-NET-3
 * addresses, 203.0.113.0/24), with a small HTTP server in it that records who asks (the source address
 * it sees) and hands the guests probe tasks. Checked with real traffic between small test guests booted
 * concurrently:
 * - a guest reaches the outside, which sees the router's gateway address (SNAT);
 * - a floating IP makes a guest's HTTP reachable from the outside, and that guest's own traffic leaves
 *   with the floating address;
 * - moving the floating IP to a second guest is an update in place (same address) and switches which
 *   hostname answers (the time until it does is logged; no timing assertion);
 * - removing the association stops it;
 * - two networks without a router between them cannot reach each other (with a positive control);
 * - the router keeps working across an agent restart; a flushed NAT table and a deleted router namespace
 *   show in the plan and apply repairs them;
 * - destroy leaves no namespace, veth, nft table, OVS bridge or port, or process.
 * Parameterized by network driver (STRATUS_ROUTER_DRIVERS, default both: `linuxbridge,ovs`).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  IMAGE as BUILT_IMAGE,
  hostObjectsFor,
  httpGetInNetns,
  run,
  stateIds,
} from './helpers.js';

/** The test guest image (STRATUS_TEST_IMAGE: one built elsewhere with STRATUS_IMAGE_DIR). */
const IMAGE = process.env.STRATUS_TEST_IMAGE ?? BUILT_IMAGE;

const DRIVERS = (process.env.STRATUS_ROUTER_DRIVERS ?? 'linuxbridge,ovs').split(',') as (
  | 'linuxbridge'
  | 'ovs'
)[];

const OUTSIDE_IP = '203.0.113.1';

/**
 * The guests' probe loop: ask the outside for a task (`HOST PORT PATH`), try it, report ok or fail;
 * forever. HTTP by hand over busybox nc (the static busybox's wget crashes resolving even an address).
 * It runs in the foreground of the user data: httpd is already up, which is what `wait: tcp:80` checks.
 */
const PROBE = `#!/bin/sh
h=$(hostname)
echo "PROBE-START $h"
get() { printf 'GET %s HTTP/1.0\\r\\n\\r\\n' "$3" | nc -w 3 "$1" "$2" 2>/dev/null; }
while :; do
  t=$(get ${OUTSIDE_IP} 8080 "/task/$h" | tr -d '\\r' | sed '1,/^$/d')
  if [ -n "$t" ]; then
    set -- $t
    if get "$1" "$2" "$3" | head -n 1 | grep -q ' 200'; then r=ok; else r=fail; fi
    get ${OUTSIDE_IP} 8080 "/result/$h/$r" >/dev/null
  fi
  sleep 1
done
`;

/**
 * The stack, built in one place: `fipServer` names the server the floating IP maps to (none: no
 * association). The servers' group admits tcp/80 from anywhere (the default group admits only its own
 * members), so what keeps the isolated network apart in this test is routing alone.
 */
function stackYaml(driver: string, providerBridge: string, fipServer: string | null): string {
  const serverProps = (subnet: string, extra = '') => `    timeouts: { create: 40m, update: 40m }
    properties:
      image: \${img}
      networks:
        - subnet: \${${subnet}}${extra}
      securityGroups: ["\${web-sg}"]
      wait: { for: "tcp:80", timeout: 30m }
      userData: |
${PROBE.split('\n')
  .map((l) => (l ? `        ${l}` : ''))
  .join('\n')}
`;
  return `name: router
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
  ext:
    type: network
    properties: { driver: ${driver}, external: true, providerBridge: ${providerBridge} }
  extsub:
    type: subnet
    properties:
      network: \${ext}
      cidr: 203.0.113.0/24
      gatewayIp: ${OUTSIDE_IP}
      allocationPools: [{ start: 203.0.113.10, end: 203.0.113.99 }]
  net:
    type: network
    properties: { driver: ${driver} }
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.91.0.0/24
  isonet:
    type: network
    properties: { driver: ${driver} }
  isosub:
    type: subnet
    properties:
      network: \${isonet}
      cidr: 10.92.0.0/24
  web-sg:
    type: security_group
    properties:
      rules:
        - { direction: ingress, protocol: tcp, portRangeMin: 80, portRangeMax: 80, remoteIpPrefix: 0.0.0.0/0 }
        - { direction: egress }
  r:
    type: router
    properties:
      externalGateway: { network: "\${ext}" }
  ri:
    type: router_interface
    properties:
      router: \${r}
      subnet: \${sub}
  web1:
    type: server
${serverProps('sub')}  web2:
    type: server
${serverProps('sub')}  isoweb:
    type: server
${serverProps('isosub', '\n          fixedIp: 10.92.0.20')}  fip:
    type: floating_ip
    properties:
      network: \${ext}
${fipServer ? `      server: \${${fipServer}}\n` : ''}`;
}

/** The outside: a bridge, a namespace on it at 203.0.113.1 and an HTTP server there. */
interface Outside {
  bridge: string;
  ns: string;
  server: ChildProcess;
  /** What the server saw: `{kind: 'task'|'result', host, src, result?}` per request, in order. */
  seen: { kind: string; host: string; src: string; result?: string }[];
  setTask(host: string, url: string): void;
  remove(): void;
}

const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const tasksFile = process.argv[1];
http.createServer((req, res) => {
  const src = req.socket.remoteAddress;
  const [, kind, host, result] = req.url.split('/');
  let body = '';
  if (kind === 'task') {
    try { body = JSON.parse(fs.readFileSync(tasksFile, 'utf8'))[host] ?? ''; } catch {}
  } else if (kind === 'ping') body = 'pong';
  process.stdout.write(JSON.stringify({ kind, host, src, result }) + '\\n');
  res.end(body);
}).listen(8080, '${OUTSIDE_IP}');
`;

function makeOutside(dir: string, driver: string): Outside {
  const tag = randomBytes(3).toString('hex');
  const bridge = `bxt${tag}`;
  const ns = `stratus-outside-${tag}`;
  const hostEnd = `vxh${tag}`;
  const nsEnd = `vxo${tag}`;
  const must = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  const remove = () => {
    spawnSync('ip', ['netns', 'delete', ns]);
    spawnSync('ip', ['link', 'delete', hostEnd]);
    if (driver === 'ovs') spawnSync('ovs-vsctl', ['--timeout=10', '--if-exists', 'del-br', bridge]);
    else spawnSync('ip', ['link', 'delete', bridge]);
  };
  try {
    if (driver === 'ovs') {
      const dp = existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
      must('ovs-vsctl', [
        '--timeout=30',
        'add-br',
        bridge,
        '--',
        'set',
        'bridge',
        bridge,
        `datapath_type=${dp}`,
      ]);
    } else must('ip', ['link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0']);
    must('ip', ['link', 'set', bridge, 'up']);
    must('ip', ['netns', 'add', ns]);
    must('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd, 'netns', ns]);
    if (driver === 'ovs') {
      must('ovs-vsctl', ['--timeout=30', 'add-port', bridge, hostEnd]);
      must('ip', ['netns', 'exec', ns, 'ethtool', '-K', nsEnd, 'tx', 'off']);
    } else must('ip', ['link', 'set', hostEnd, 'master', bridge]);
    must('ip', ['link', 'set', hostEnd, 'up']);
    must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    must('ip', ['-n', ns, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', nsEnd]);
    must('ip', ['-n', ns, 'link', 'set', nsEnd, 'up']);
  } catch (e) {
    remove();
    throw e;
  }
  const tasksFile = join(dir, 'tasks.json');
  writeFileSync(tasksFile, '{}');
  const tasks: Record<string, string> = {};
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, tasksFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen: Outside['seen'] = [];
  let buf = '';
  server.stdout!.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      seen.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  return {
    bridge,
    ns,
    server,
    seen,
    setTask(host, url) {
      tasks[host] = url;
      writeFileSync(tasksFile, JSON.stringify(tasks));
    },
    remove() {
      server.kill('SIGKILL');
      remove();
    },
  };
}

/** Polls `check` every 500 ms until it returns a value; the limit only ends a hang. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 600_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** An HTTP GET from the outside namespace with a short limit: the body, or null when nothing answered. */
async function getFromOutside(ns: string, url: string): Promise<string | null> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(4000) }).then(async (r) => process.stdout.write(await r.text()), () => process.exit(3))`;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
  return r.code === 0 ? r.stdout.trim() : null;
}

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

for (const driver of DRIVERS) {
  test(`router (${driver}): SNAT, floating IP moves in place, isolation, drift, restart, clean destroy`, async () => {
    assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
    const t: AgentEnv = agentEnv(`router-${driver}`);
    const stack = join(t.dir, 'stack.yaml');
    const state = join(t.dir, 'state.json');
    const outside = makeOutside(t.dir, driver);
    cleanups.push(async () => {
      const routers = stateIds(state).filter((r) => r.type === 'router');
      await t.cleanup([state]);
      for (const r of routers) spawnSync('ip', ['netns', 'delete', `qrouter-${r.id}`]);
      outside.remove();
    });
    let agent = await t.startAgent();
    const apply = async (fipServer: string | null) => {
      writeFileSync(stack, stackYaml(driver, outside.bridge, fipServer));
      const r = await t.stratus('apply', '--auto-approve', '--state', state, stack);
      assert.equal(r.code, 0, `apply failed:\n${r.stdout}\n${r.stderr}`);
      return r;
    };
    type Res = { name: string; id: string; attributes: Record<string, unknown> };
    const byName = (name: string): Res =>
      (JSON.parse(readFileSync(state, 'utf8')).resources as Res[]).find((r) => r.name === name)!;

    const started = Date.now();
    await apply('web1');
    process.stdout.write(`# ${driver}: apply with three guests took ${Date.now() - started} ms\n`);
    const fipAddr = String(byName('fip').attributes.floatingIpAddress);
    const gwAddr = String(byName('r').attributes.externalGatewayIp);
    const routerId = byName('r').id;
    const ns = `qrouter-${routerId}`;
    assert.match(fipAddr, /^203\.0\.113\.\d+$/);
    assert.match(gwAddr, /^203\.0\.113\.\d+$/);
    assert.equal(byName('fip').attributes.status, 'ACTIVE');
    assert.equal(byName('ri').attributes.ipAddress, '10.91.0.1', 'the subnet gateway is on the router');

    // The floating IP reaches web1's HTTP from the outside.
    const first = await until('web1 through the floating IP', async () =>
      (await getFromOutside(outside.ns, `http://${fipAddr}/`)) === 'web1' ? true : undefined,
    );
    assert.ok(first);
    // The guests probe the outside from boot, before the floating IP exists (it is created after its
    // server): web1's own address is judged by what it sends once the floating IP answers.
    const afterFloating = outside.seen.length;
    // SNAT: web2 (no floating IP) is seen from the outside as the router's gateway address; web1 as its
    // floating address.
    const web2Src = await until(
      'a request from web2',
      () => outside.seen.find((s) => s.host === 'web2')?.src,
    );
    assert.equal(
      web2Src,
      gwAddr,
      'the outside sees the router gateway address for a guest without floating IP',
    );
    const web1Src = await until(
      'a request from web1',
      () => outside.seen.slice(afterFloating).find((s) => s.host === 'web1')?.src,
    );
    assert.equal(web1Src, fipAddr, "a guest's own traffic leaves with its floating address");

    // Two networks without a router between them: web1 cannot reach isoweb (which is up: it answers in
    // its own network), while web2 reaches the outside (positive control of the probe).
    const iso = byName('isoweb');
    const isoAnswer = await httpGetInNetns(
      `qdhcp-${byName('isonet').id}`,
      `http://${iso.attributes.accessIpV4}/`,
    );
    assert.equal(isoAnswer.stdout.trim(), 'isoweb', isoAnswer.stderr);
    outside.setTask('web1', '10.92.0.20 80 /');
    outside.setTask('web2', `${OUTSIDE_IP} 8080 /ping`);
    const results = await until('probe results of web1 and web2', () => {
      const r1 = outside.seen.find((s) => s.kind === 'result' && s.host === 'web1');
      const r2 = outside.seen.find((s) => s.kind === 'result' && s.host === 'web2');
      return r1 && r2 ? [r1.result, r2.result] : undefined;
    });
    assert.deepEqual(results, ['fail', 'ok']);
    outside.setTask('web1', '');
    outside.setTask('web2', '');

    // The router keeps working across an agent restart.
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    agent = await t.startAgent();
    assert.equal(await getFromOutside(outside.ns, `http://${fipAddr}/`), 'web1', 'after an agent restart');
    const calm = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(calm.code, 0, `no changes expected:\n${calm.stdout}\n${calm.stderr}`);

    // Moving the floating IP is an update in place: same address, another hostname answers.
    writeFileSync(stack, stackYaml(driver, outside.bridge, 'web2'));
    const movePlan = await t.stratus('plan', '--state', state, stack);
    assert.match(movePlan.stdout, /floating_ip fip will be updated in place/);
    assert.match(movePlan.stdout, /0 to add, 1 to change, 0 to destroy/);
    const moveStart = Date.now();
    await apply('web2');
    const applied = Date.now() - moveStart;
    await until('web2 through the floating IP', async () =>
      (await getFromOutside(outside.ns, `http://${fipAddr}/`)) === 'web2' ? true : undefined,
    );
    const moved = Date.now() - moveStart;
    process.stdout.write(
      `# ${driver}: floating IP move: apply ${applied} ms, web2 answering ${moved} ms after the apply began\n`,
    );
    assert.equal(byName('fip').attributes.floatingIpAddress, fipAddr, 'the address stays');

    // Removing the association stops it.
    await apply(null);
    assert.equal(byName('fip').attributes.status, 'DOWN');
    assert.equal(await getFromOutside(outside.ns, `http://${fipAddr}/`), null, 'nothing answers any more');

    // Drift: the NAT table flushed outside Stratus shows in the plan; apply repairs it.
    spawnSync('ip', ['netns', 'exec', ns, 'nft', 'flush', 'table', 'ip', `stratus-router-${routerId}`]);
    const drifted = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(drifted.code, 2, `${drifted.stdout}\n${drifted.stderr}`);
    assert.match(
      drifted.stdout,
      /router r will be updated in place \(drift: changed outside Stratus: nftables table/,
    );
    await apply(null);
    const rules = spawnSync(
      'ip',
      ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip', `stratus-router-${routerId}`],
      {
        encoding: 'utf8',
      },
    ).stdout;
    assert.match(rules, /snat to 203\.0\.113\.\d+ comment "snat"/);

    // Drift: the router's namespace deleted outside Stratus (its devices and NAT table go with it) shows
    // in the plan for the router and its interface; apply rebuilds it, and web2 reaches the outside
    // through it again, seen as the gateway address.
    spawnSync('ip', ['netns', 'delete', ns]);
    const gone = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(gone.code, 2, `${gone.stdout}\n${gone.stderr}`);
    assert.match(
      gone.stdout,
      new RegExp(
        `router r will be updated in place \\(drift: changed outside Stratus: namespace ${ns} is missing`,
      ),
    );
    assert.match(gone.stdout, /router_interface ri will be updated in place \(drift: its device/);
    await apply(null);
    const sinceRepair = outside.seen.length;
    const web2Again = await until(
      'a request from web2 through the rebuilt router',
      () => outside.seen.slice(sinceRepair).find((s) => s.host === 'web2')?.src,
    );
    assert.equal(web2Again, gwAddr, 'SNAT through the rebuilt router');
    const rebuilt = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(rebuilt.code, 0, `no changes expected:\n${rebuilt.stdout}\n${rebuilt.stderr}`);

    // Destroy leaves nothing of the stack.
    const ids = stateIds(state).map((r) => r.id);
    const interfaceId = byName('ri').id;
    const destroyed = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
    assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
    assert.deepEqual(hostObjectsFor(ids), []);
    const short = (id: string) => id.replace(/-/g, '').slice(0, 11);
    const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.ok(!netns.includes(ns), 'router namespace removed');
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    assert.ok(!links.includes(`tqg${short(routerId)}`), 'gateway veth removed');
    assert.ok(!links.includes(`tqr${short(interfaceId)}`), 'interface veth removed');
    const tables = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout;
    assert.ok(!tables.includes(routerId), 'no nft table of the router');
    const procs = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    assert.ok(!ids.some((id) => procs.includes(id)), 'no process of the stack');
  });
}
