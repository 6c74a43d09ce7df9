/**
 * Subnet options a guest sees (issue 11, Deliver 6), with two small test guests booted side by side:
 * - a subnet with DHCP hands its guest the network's MTU (option 26), its DNS servers and its host
 *   routes (option 121, with the metadata route and the default route via the gateway among them); the
 *   guest reports what it applied, and dnsmasq's options file says the same;
 * - a subnet with `enableDhcp: false` and `noGateway: true` (Neutron's gateway_ip null) has no DHCP
 *   server at all (no namespace, no dnsmasq, no files): its guest takes its fixed address, MTU, DNS
 *   servers and host routes from the config drive's network_data.json, as cloud-init does on a Neutron
 *   network without DHCP, gets no default route, and answers HTTP to a namespace this test plugs into
 *   the network's bridge;
 * - enableDhcp and hostRoutes change in place: turning DHCP on starts a DHCP server serving the guest's
 *   lease, turning it off removes it again; changed host routes reach the options file;
 * - destroy leaves nothing of the stack.
 * The guest image must be built from this tree's scripts/guest (STRATUS_TEST_IMAGE names another build).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  IMAGE as BUILT_IMAGE,
  hostObjectsFor,
  httpGetInNetns,
  sh,
  stateIds,
  waitForReady,
} from './helpers.js';

const IMAGE = process.env.STRATUS_TEST_IMAGE ?? BUILT_IMAGE;

/** The stand-in peer on the network without DHCP: a namespace and the host end of its veth. */
const NS = `stratus-sno-${process.pid}`;
const VETH = `sno${process.pid}`.slice(0, 15);

/** The stack; `staticSub` is the extra properties of the subnet without DHCP. */
const stackYaml = (staticSub: string) => `name: subnet-options
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
  web-sg:
    type: security_group
    properties:
      rules:
        - { direction: ingress, protocol: tcp, portRangeMin: 80, portRangeMax: 80, remoteIpPrefix: 0.0.0.0/0 }
        - { direction: egress }
  dnet:
    type: network
    properties: { driver: linuxbridge, mtu: 1400 }
  dsub:
    type: subnet
    properties:
      network: \${dnet}
      cidr: 10.95.0.0/24
      dnsNameservers: [192.0.2.53, 192.0.2.54]
      hostRoutes:
        - { destination: 10.50.0.0/16, nexthop: 10.95.0.9 }
  snet:
    type: network
    properties: { driver: linuxbridge, mtu: 1450 }
  ssub:
    type: subnet
    properties:
      network: \${snet}
      cidr: 10.96.0.0/24
      noGateway: true
      dnsNameservers: [192.0.2.55]
${staticSub}
  g-dhcp:
    type: server
    timeouts: { create: 40m }
    properties:
      image: \${img}
      securityGroups: ["\${web-sg}"]
      networks:
        - subnet: \${dsub}
  g-static:
    type: server
    timeouts: { create: 40m }
    properties:
      image: \${img}
      securityGroups: ["\${web-sg}"]
      networks:
        - subnet: \${ssub}
          fixedIp: 10.96.0.20
`;

const STATIC = `      enableDhcp: false
      hostRoutes:
        - { destination: 10.60.0.0/16, nexthop: 10.96.0.9 }`;

/** The guest's `STRATUS-GUEST-NET` line of its NIC with `mac`, as fields. */
function guestNet(consoleLog: string, mac: string): Record<string, string> {
  const line = readFileSync(consoleLog, 'utf8')
    .split(/\r?\n/)
    .find((l) => l.startsWith('STRATUS-GUEST-NET ') && l.includes(` mac=${mac} `));
  assert.ok(
    line,
    `no STRATUS-GUEST-NET line for ${mac} in ${consoleLog}: is the guest image built from this tree?`,
  );
  return Object.fromEntries(
    line
      .trim()
      .split(' ')
      .slice(1)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** Runs a setup command; fails the test with its stderr when it fails. */
function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

let t: AgentEnv | undefined;
let state = '';
after(async () => {
  sh('ip', ['netns', 'del', NS]);
  sh('ip', ['link', 'del', VETH]);
  await t?.cleanup([state]);
});

test('DHCP options (MTU, DNS, host routes) and a subnet without DHCP or gateway configured from network_data.json', async (ctx) => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('subnet-options');
  await t.startAgent();
  const stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  const apply = async (staticSub: string) => {
    writeFileSync(stack, stackYaml(staticSub));
    const r = await t!.stratus('apply', '--auto-approve', '--state', state, stack);
    assert.equal(r.code, 0, `apply failed:\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  type Res = { name: string; id: string; attributes: Record<string, unknown> };
  const byName = (name: string): Res =>
    (JSON.parse(readFileSync(state, 'utf8')).resources as Res[]).find((r) => r.name === name)!;
  await apply(STATIC);

  const dnet = byName('dnet');
  const snet = byName('snet');
  const ssub = byName('ssub');
  assert.equal(ssub.attributes.gatewayIp, undefined, 'noGateway: no gateway address');
  assert.equal(byName('dsub').attributes.gatewayIp, '10.95.0.1');
  const gDhcp = byName('g-dhcp');
  const gStatic = byName('g-static');
  const macOf = (r: Res) => (r.attributes.addresses as { mac: string }[])[0]!.mac;

  // What dnsmasq is told for the subnet with DHCP.
  const opts = readFileSync(join(t.stateDir, 'dhcp', dnet.id, 'opts'), 'utf8');
  const dhcpIp = String(byName('dsub').attributes.dhcpIp);
  assert.match(opts, /,option:mtu,1400\n/);
  assert.match(opts, /,option:dns-server,192\.0\.2\.53,192\.0\.2\.54\n/);
  assert.match(
    opts,
    new RegExp(
      `,option:classless-static-route,10\\.50\\.0\\.0/16,10\\.95\\.0\\.9,169\\.254\\.169\\.254/32,${dhcpIp.replace(/\./g, '\\.')},0\\.0\\.0\\.0/0,10\\.95\\.0\\.1\\n`,
    ),
  );
  // No DHCP server of any kind for the network whose only subnet has DHCP off.
  assert.ok(!existsSync(join(t.stateDir, 'dhcp', snet.id)), 'no DHCP files for the network without DHCP');
  assert.doesNotMatch(sh('ip', ['netns', 'list']), new RegExp(`qdhcp-${snet.id}`));
  assert.ok(
    !sh('ps', ['-eo', 'args'])
      .split('\n')
      .some((p) => p.includes('dnsmasq') && p.includes(snet.id)),
    'no dnsmasq for the network without DHCP',
  );

  // What each guest applied.
  const [, readyStatic] = await Promise.all([
    // 30 min: only ends a hang (two TCG boots on a shared, loaded 2-core machine took over 15 min once).
    waitForReady(String(gDhcp.attributes.consoleLog), 1_800_000),
    waitForReady(String(gStatic.attributes.consoleLog), 1_800_000),
  ]);
  const viaDhcp = guestNet(String(gDhcp.attributes.consoleLog), macOf(gDhcp));
  ctx.diagnostic(`guest with DHCP: ${JSON.stringify(viaDhcp)}`);
  assert.equal(viaDhcp.ip, `${gDhcp.attributes.accessIpV4}/24`);
  assert.equal(viaDhcp.mtu, '1400', 'option 26');
  assert.equal(viaDhcp.dns, '192.0.2.53,192.0.2.54');
  assert.deepEqual(viaDhcp.routes!.split(',').sort(), [
    '10.50.0.0/16>10.95.0.9',
    `169.254.169.254>${dhcpIp}`,
    'default>10.95.0.1',
  ]);
  const fromDrive = guestNet(String(gStatic.attributes.consoleLog), macOf(gStatic));
  ctx.diagnostic(`guest without DHCP: ${JSON.stringify(fromDrive)}`);
  assert.match(
    readFileSync(String(gStatic.attributes.consoleLog), 'utf8'),
    /static configuration from network_data\.json/,
  );
  assert.equal(readyStatic.ip, '10.96.0.20');
  assert.equal(fromDrive.ip, '10.96.0.20/24');
  assert.equal(fromDrive.mtu, '1450');
  assert.equal(fromDrive.dns, '192.0.2.55');
  assert.equal(fromDrive.routes, '10.60.0.0/16>10.96.0.9', 'host routes and no default route');

  // Both answer HTTP: the one with DHCP from its DHCP namespace, the static one from a peer this test
  // plugs into its network.
  const a = await httpGetInNetns(`qdhcp-${dnet.id}`, `http://${gDhcp.attributes.accessIpV4}/`);
  assert.equal(a.stdout.trim(), 'g-dhcp', a.stderr);
  must('ip', ['netns', 'add', NS]);
  must('ip', ['link', 'add', VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS]);
  must('ip', ['link', 'set', VETH, 'mtu', '1450', 'master', String(snet.attributes.bridge), 'up']);
  must('ip', ['-n', NS, 'link', 'set', 'eth0', 'mtu', '1450', 'up']);
  must('ip', ['-n', NS, 'addr', 'add', '10.96.0.200/24', 'dev', 'eth0']);
  const b = await httpGetInNetns(NS, 'http://10.96.0.20/');
  assert.equal(b.stdout.trim(), 'g-static', b.stderr);

  // enableDhcp on, in place: a DHCP server for the network, with the static guest's lease and routes.
  const on = STATIC.replace('enableDhcp: false', 'enableDhcp: true').replace('10.60.0.0/16', '10.61.0.0/16');
  writeFileSync(stack, stackYaml(on));
  const plan = await t.stratus('plan', '--state', state, stack);
  assert.match(plan.stdout, /subnet ssub will be updated in place/, plan.stdout);
  assert.match(plan.stdout, /0 to add, 1 to change, 0 to destroy/, plan.stdout);
  await apply(on);
  const sdir = join(t.stateDir, 'dhcp', snet.id);
  assert.match(readFileSync(join(sdir, 'hosts'), 'utf8'), new RegExp(`${macOf(gStatic)},10\\.96\\.0\\.20`));
  const sopts = readFileSync(join(sdir, 'opts'), 'utf8');
  assert.match(sopts, /option:router\n/, 'an empty router option: no gateway');
  assert.match(sopts, /option:classless-static-route,10\.61\.0\.0\/16,10\.96\.0\.9,169\.254\.169\.254\/32,/);
  assert.doesNotMatch(sopts, /0\.0\.0\.0\/0/, 'no default route without a gateway');
  assert.match(sh('ip', ['netns', 'list']), new RegExp(`qdhcp-${snet.id}`));
  // And off again: the DHCP server goes.
  await apply(STATIC);
  assert.ok(!existsSync(sdir), 'DHCP files removed');
  assert.doesNotMatch(sh('ip', ['netns', 'list']), new RegExp(`qdhcp-${snet.id}`));
  const calm = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(calm.code, 0, `no changes expected:\n${calm.stdout}\n${calm.stderr}`);

  must('ip', ['netns', 'del', NS]);
  const ids = stateIds(state).map((r) => r.id);
  const d = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(d.code, 0, `destroy:\n${d.stdout}\n${d.stderr}`);
  assert.deepEqual(hostObjectsFor(ids), []);
  assert.doesNotMatch(sh('ip', ['-o', 'link', 'show']), new RegExp(VETH), 'stand-in veth gone');
});
