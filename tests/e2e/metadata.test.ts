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
 * - Password retrieval (issue 13 Deliver 4), standing in for cloudbase-init from b's address: it reads
 *   b's first SSH key from meta_data.json, encrypts a password with it (RSA PKCS#1 v1.5, base64) and
 *   POSTs it to `openstack/2013-04-04/password`; a second POST is 409; `stratus server password` prints
 *   the clear text (with the generated key pair's key from state, and with -private-key FILE). From the
 *   address of another server (c, on the Linux bridge network) the stand-in reads no password of b's and
 *   its posts set only c's own (then 409); from an address no port has, a POST is 404. The password is
 *   answered again after the agent restart and is gone with the server.
 * - Destroy leaves no namespace, veth, address or process of the network.
 *
 * The scenario runs on a Linux bridge network and an Open vSwitch network at once (one apply, the two
 * guests boot side by side).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
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

const DRIVERS = ['linuxbridge', 'ovs'] as const;
type Driver = (typeof DRIVERS)[number];
const short = (d: Driver) => (d === 'ovs' ? 'ovs' : 'lb');
/** The stand-in guest of each driver's network: its namespace and the host end of its veth. */
const nsOf = (d: Driver) => `stratus-mdg-${short(d)}-${process.pid}`;
const vethOf = (d: Driver) => `mdg${short(d)}${process.pid}`.slice(0, 15);

type Res = { name: string; id: string; attributes: Record<string, unknown> };
const byName = (name: string): Res =>
  (JSON.parse(readFileSync(state, 'utf8')).resources as Res[]).find((r) => r.name === name)!;

/** GETs `paths` from namespace `ns` with `headers`; answers status and body of each. */
async function getFromGuest(
  ns: string,
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
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
  assert.equal(r.code, 0, `fetch from ${ns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; body: string }[];
}

/** One request of a stand-in guest: GET unless `method` says otherwise, with `body`. */
type GuestRequest = { path: string; method?: string; body?: string };

/** Sends `reqs` in order from namespace `ns`; answers status and body of each. */
async function fromGuest(ns: string, reqs: GuestRequest[]): Promise<{ status: number; body: string }[]> {
  const script = `(async () => {
    const out = [];
    for (const q of ${JSON.stringify(reqs)}) {
      const r = await fetch('http://169.254.169.254' + q.path, { method: q.method ?? 'GET', body: q.body, signal: AbortSignal.timeout(60000) });
      out.push({ status: r.status, body: await r.text() });
    }
    process.stdout.write(JSON.stringify(out));
  })()`;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
  assert.equal(r.code, 0, `requests from ${ns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; body: string }[];
}

/**
 * What cloudbase-init does with a generated password: encrypts it with the first SSH public key of
 * meta_data.json (an `ssh-rsa` line, turned into a PEM public key by ssh-keygen), PKCS#1 v1.5, base64.
 */
function encryptForGuest(password: string, sshRsaLine: string): string {
  const pub = join(t.dir, `guest-key-${Math.random().toString(16).slice(2)}.pub`);
  writeFileSync(pub, `${sshRsaLine}\n`);
  const pem = spawnSync('ssh-keygen', ['-e', '-m', 'PKCS8', '-f', pub], { encoding: 'utf8' });
  assert.equal(pem.status, 0, pem.stderr);
  return publicEncrypt(
    { key: createPublicKey(pem.stdout), padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(password, 'utf8'),
  ).toString('base64');
}

const PASSWORD_PATH = '/openstack/2013-04-04/password';
/** The password the stand-in for b generates on `d`'s network. */
const passwordOf = (d: Driver) => `Stratus-${short(d)}-Pa55w0rd!`;
/** The body of the only answer. */
const got0 = (r: { status: number; body: string }[]) => {
  assert.equal(r[0]?.status, 200, JSON.stringify(r));
  return r[0]!.body;
};

/** Gives the stand-in guest in `ns` address `ip`/24 (and only it), with the metadata route via `dhcpIp`. */
function standInAddress(ns: string, ip: string, dhcpIp: string): void {
  must('ip', ['-n', ns, 'addr', 'flush', 'dev', 'eth0']);
  must('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  must('ip', ['-n', ns, 'route', 'replace', '169.254.169.254/32', 'via', dhcpIp, 'dev', 'eth0']);
}

/** Plugs a stand-in guest namespace into network `net`'s bridge (Linux or Open vSwitch). */
function plugStandIn(d: Driver, bridge: string): void {
  const ns = nsOf(d);
  const veth = vethOf(d);
  must('ip', ['netns', 'add', ns]);
  must('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  if (d === 'ovs') {
    must('ovs-vsctl', ['--timeout=30', 'add-port', bridge, veth]);
    // The userspace datapath drops checksum offload metadata: the namespace computes its own.
    must('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
    must('ip', ['link', 'set', veth, 'up']);
  } else must('ip', ['link', 'set', veth, 'master', bridge, 'up']);
  must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

const serversOf = (d: Driver, i: number) => `  net-${short(d)}:
    type: network
    properties: { driver: ${d} }
  sub-${short(d)}:
    type: subnet
    properties:
      network: \${net-${short(d)}}
      cidr: 10.${79 + i}.0.0/24
  a-${short(d)}:
    type: server
    timeouts: { create: 40m }
    properties:
      image: \${img}
      hostname: md-a-${short(d)}
      configDrive: false
      networks:
        - subnet: \${sub-${short(d)}}
      userData: |
        #!/bin/sh
        echo "STRATUS-MD-USERDATA host=$(hostname)"
  b-${short(d)}:
    type: server
    properties:
      image: \${blank}
      hostname: md-b-${short(d)}
      memoryMb: 64
      configDrive: false
      keyPair: \${kp}
      networks:
        - subnet: \${sub-${short(d)}}
      userData: "b's own user data"
${
  d === 'linuxbridge'
    ? `  c-${short(d)}:
    type: server
    properties:
      image: \${blank}
      hostname: md-c-${short(d)}
      memoryMb: 64
      configDrive: false
      keyPair: \${kp}
      networks:
        - subnet: \${sub-${short(d)}}
`
    : ''
}`;

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
  kp:
    type: keypair
${DRIVERS.map(serversOf).join('')}`,
  );
});

after(async () => {
  // Already gone when the test got that far.
  for (const d of DRIVERS) {
    sh('ip', ['netns', 'del', nsOf(d)]);
    sh('ovs-vsctl', ['--timeout=30', '--if-exists', 'del-port', vethOf(d)]);
    sh('ip', ['link', 'del', vethOf(d)]);
  }
  await t.cleanup([state]);
});

/** Runs a setup command; fails the test with its stderr when it fails. */
function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

test('a guest without a config drive gets its host name and user data from 169.254.169.254; another address gets only its own or 404; destroy leaves nothing (Linux bridge and Open vSwitch)', async (ctx) => {
  const applied = await t.stratus('apply', '-auto-approve', '--state', state, stack);
  assert.equal(applied.code, 0, `apply:\n${applied.stdout}\n${applied.stderr}`);
  const paths = [
    '/openstack/latest/meta_data.json',
    '/openstack/2018-08-27/meta_data.json',
    '/openstack/latest/user_data',
    '/latest/meta-data/instance-id',
    '/latest/meta-data/hostname',
    '/openstack',
  ];
  const of = (d: Driver) => {
    const s = short(d);
    const sub = byName(`sub-${s}`);
    return {
      a: byName(`a-${s}`),
      b: byName(`b-${s}`),
      net: byName(`net-${s}`),
      dhcpIp: sub.attributes.dhcpIp as string,
      cidr: sub.attributes.cidr as string,
    };
  };

  for (const d of DRIVERS) {
    const { a, b, net, dhcpIp, cidr } = of(d);
    const ns = nsOf(d);
    const aIp = a.attributes.accessIpV4 as string;
    const bIp = b.attributes.accessIpV4 as string;
    assert.ok(!existsSync(join(t.stateDir, 'instances', a.id, 'config.iso')), `${d}: a has no config drive`);
    plugStandIn(d, net.attributes.bridge as string);

    // With b's address: b's documents, whatever the request claims.
    standInAddress(ns, bIp, dhcpIp);
    for (const headers of [
      {} as Record<string, string>,
      { 'X-Instance-ID': a.id, 'X-Forwarded-For': aIp, 'X-Instance-ID-Signature': '0'.repeat(64) },
    ]) {
      const got = await getFromGuest(ns, paths, headers);
      assert.deepEqual(
        got.map((g) => g.status),
        paths.map(() => 200),
        `${d}: ${JSON.stringify(got)}`,
      );
      assert.equal(JSON.parse(got[0]!.body).uuid, b.id);
      assert.equal(JSON.parse(got[1]!.body).hostname, `md-b-${short(d)}`);
      assert.equal(got[2]!.body, "b's own user data");
      assert.equal(got[3]!.body, b.id);
      assert.equal(got[4]!.body, `md-b-${short(d)}`);
      assert.ok(got[5]!.body.split('\n').includes('2018-08-27'));
      for (const g of got) {
        assert.ok(!g.body.includes(a.id), `${d}: a's id leaked to b's address: ${g.body}`);
        assert.ok(!g.body.includes('STRATUS-MD-USERDATA'), `${d}: a's user data leaked to b's address`);
      }
    }
    // The password, as cloudbase-init posts it from b: encrypted with b's first key, once.
    const meta = JSON.parse(got0(await getFromGuest(ns, ['/openstack/latest/meta_data.json'])));
    const firstKey = Object.values(meta.public_keys as Record<string, string>)[0]!;
    assert.match(firstKey, /^ssh-rsa /, `${d}: b's first key is the generated RSA key`);
    const cipher = encryptForGuest(passwordOf(d), firstKey);
    const posted = await fromGuest(ns, [
      { path: PASSWORD_PATH },
      { path: PASSWORD_PATH, method: 'POST', body: cipher },
      { path: PASSWORD_PATH, method: 'POST', body: encryptForGuest('a second one', firstKey) },
      { path: '/openstack/latest/password', method: 'POST', body: cipher },
      { path: PASSWORD_PATH },
      { path: '/openstack/latest' },
    ]);
    assert.deepEqual(
      posted.map((r) => r.status),
      [200, 200, 409, 409, 200, 200],
      `${d}: ${JSON.stringify(posted.map((r) => r.status))}`,
    );
    assert.equal(posted[0]!.body, '', `${d}: no password before the post`);
    assert.equal(posted[4]!.body, cipher, `${d}: GET answers what was posted first`);
    assert.ok(posted[5]!.body.split('\n').includes('password'), `${d}: latest lists password`);

    if (d === 'linuxbridge') {
      // From another server's address: none of b's password, and its posts set only its own.
      const c = byName(`c-${short(d)}`);
      standInAddress(ns, c.attributes.accessIpV4 as string, dhcpIp);
      const fromC = await fromGuest(ns, [
        { path: PASSWORD_PATH },
        { path: PASSWORD_PATH, method: 'POST', body: encryptForGuest('c-own-Pass1', firstKey) },
        { path: PASSWORD_PATH, method: 'POST', body: encryptForGuest('overwrite-b', firstKey) },
      ]);
      assert.deepEqual(
        fromC.map((r) => [r.status, r.body]),
        [
          [200, ''],
          [200, ''],
          [409, '409 Conflict: the password is set\n'],
        ],
      );
      standInAddress(ns, bIp, dhcpIp);
      assert.equal(got0(await fromGuest(ns, [{ path: PASSWORD_PATH }])), cipher, 'b keeps its own');
    }

    // With an address no port has: nothing at all, and no password can be posted.
    standInAddress(ns, cidr.replace(/0\/24$/, '200'), dhcpIp);
    assert.deepEqual(
      (
        await fromGuest(ns, [{ path: PASSWORD_PATH, method: 'POST', body: cipher }, { path: PASSWORD_PATH }])
      ).map((r) => r.status),
      [404, 404],
    );
    const none = await getFromGuest(ns, paths);
    assert.deepEqual(
      none.map((g) => g.status),
      paths.map(() => 404),
      `${d}: ${JSON.stringify(none)}`,
    );
  }

  // `stratus server password` decrypts what b posted: with the key pair's generated key from state,
  // and with -private-key FILE; c's own is c's.
  const kp = byName('kp');
  const keyFile = join(t.dir, 'kp.pem');
  writeFileSync(keyFile, kp.attributes.privateKey as string, { mode: 0o600 });
  for (const d of DRIVERS) {
    for (const extra of [[], [`--private-key=${keyFile}`]]) {
      const r = await t.stratus('server', 'password', '--state', state, ...extra, stack, `b-${short(d)}`);
      assert.equal(r.code, 0, `server password b-${short(d)}:\n${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout, `${passwordOf(d)}\n`);
    }
  }
  const cPass = await t.stratus('server', 'password', '--state', state, stack, 'c-lb');
  assert.equal(cPass.code, 0, cPass.stderr);
  assert.equal(cPass.stdout, 'c-own-Pass1\n');
  // a never posted one: exit 1 with a message, nothing on stdout.
  const aPass = await t.stratus('server', 'password', '--state', state, stack, 'a-lb');
  assert.equal(aPass.code, 1, aPass.stderr);
  assert.equal(aPass.stdout, '');
  assert.match(aPass.stderr, /no key pair|no password yet/);
  const badFlag = await t.stratus(
    'server',
    'password',
    '--state',
    state,
    '--private-key',
    join(t.dir, 'missing.pem'),
    stack,
    'b-lb',
  );
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.stderr, /missing\.pem: ENOENT/);
  assert.doesNotMatch(badFlag.stderr, /\n\s+at /, 'no stack trace');
  // The clear text is in no agent log.
  const logs = t.agentLogs.map((f) => readFileSync(f, 'utf8')).join('\n');
  for (const d of DRIVERS) assert.ok(!logs.includes(passwordOf(d)), 'a password in the agent log');
  assert.match(logs, /metadata password request/, 'password requests are logged (without the body)');

  // The real guests: host name and user data from the service.
  for (const d of DRIVERS) {
    const { a } = of(d);
    const consoleLog = a.attributes.consoleLog as string;
    const ready = await waitForReady(consoleLog);
    const log = readFileSync(consoleLog, 'utf8');
    ctx.diagnostic(`guest a on ${d}: ${JSON.stringify(ready)}`);
    assert.match(log, /stratus-init: no config drive/, d);
    assert.match(log, /stratus-init: metadata service/, d);
    assert.equal(ready.hostname, `md-a-${short(d)}`);
    assert.equal(ready.ip, a.attributes.accessIpV4);
    assert.match(log, new RegExp(`STRATUS-MD-USERDATA host=md-a-${short(d)}`));
    assert.match(log, /STRATUS-USERDATA exit=0/);
  }

  // A restarted agent serves again (its sockets died with it).
  const pid = t.agentPid();
  assert.ok(pid, 'the agent runs');
  process.kill(pid, 'SIGKILL');
  await t.startAgent('--log-level', 'debug');
  for (const d of DRIVERS) {
    const { b, dhcpIp } = of(d);
    standInAddress(nsOf(d), b.attributes.accessIpV4 as string, dhcpIp);
    assert.deepEqual(await getFromGuest(nsOf(d), ['/latest/meta-data/instance-id']), [
      { status: 200, body: b.id },
    ]);
    // The posted password outlived the agent.
    const [pw] = await fromGuest(nsOf(d), [{ path: PASSWORD_PATH }]);
    assert.equal(pw!.status, 200);
    assert.ok(pw!.body.length > 300, `${d}: password answered after the restart`);
    must('ip', ['netns', 'del', nsOf(d)]);
    if (d === 'ovs') must('ovs-vsctl', ['--timeout=30', '--if-exists', 'del-port', vethOf(d)]);
  }

  const ids = stateIds(state).map((r) => r.id);
  const passwordFiles = DRIVERS.map((drv) => join(t.stateDir, 'instances', of(drv).b.id, 'password'));
  for (const f of passwordFiles) assert.ok(existsSync(f), `${f} is kept with the server`);
  const nets = DRIVERS.map((drv) => [drv, of(drv).net.id] as const);
  const d = await t.stratus('destroy', '-auto-approve', '--state', state, stack);
  assert.equal(d.code, 0, `destroy:\n${d.stdout}\n${d.stderr}`);
  assert.deepEqual(hostObjectsFor(ids), [], 'host objects left');
  for (const f of passwordFiles) assert.ok(!existsSync(f), `${f} went with the server`);
  for (const [drv, netId] of nets) {
    const shortId = netId.replace(/-/g, '').slice(0, 11);
    assert.doesNotMatch(
      sh('ip', ['-o', 'link', 'show']),
      new RegExp(`tdh${shortId}`),
      `${drv}: DHCP veth left`,
    );
    assert.doesNotMatch(sh('ip', ['netns', 'list']), new RegExp(netId), `${drv}: DHCP namespace left`);
    assert.doesNotMatch(
      sh('ps', ['-eo', 'args']),
      new RegExp(netId),
      `${drv}: a process of the network left`,
    );
  }
});
