// Measures, against a private agent:
// 1. creating a routed network with `stratus apply`: network + subnet + router (gateway on an external
//    network) + router interface + floating IP. The external network and its subnet (the floating IP
//    pool, on a provider bridge this bench makes) are applied once, in their own stack, before the runs;
//    each run applies the routed stack and destroys it again. It prints every run, the median, min and
//    max of the apply (wall clock of the CLI, which includes starting Node), and each resource's own
//    create time as apply reports it.
// 2. a security group rule's effect on traffic: one test guest (build/images/stratus-guest.qcow2) in a
//    group without ingress rules; a prober in the network's DHCP namespace tries TCP connections to its
//    port 80 every ~100 ms. A `security_group_rule` admitting tcp/80 is applied, then destroyed; printed
//    is the time from the start of each apply to the first connection that shows the change (accepted,
//    then refused), and from the end of the apply (the CLI's exit) to it.
// 3. nftables rules per port: the rules in the guest port's tables (bridge and inet family), with the
//    group's one egress rule and with the tcp/80 rule added.
// 4. the size of one port's firewall as each backend renders it (nft rules on a Linux bridge, OpenFlow
//    flows on Open vSwitch), for a port in the default group with 2 and 20 other members: counted from
//    the renderers the agent loads, not read from a host.
// It asserts nothing about time.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderPortFlows } from '../packages/agent/src/network/firewall/openflow.js';
import { type PortFirewall, renderPortFirewall } from '../packages/agent/src/network/firewall/ruleset.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/sdk/dist/bundle/stratus.js');
const { values: opts } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, 'skip-rules': { type: 'boolean', default: false } },
});
const IMAGE = process.env.STRATUS_TEST_IMAGE ?? join(ROOT, 'build/images/stratus-guest.qcow2');
const RUNS = Number(opts.runs);

const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-network-'));
// dnsmasq drops privileges and reads its files under the agent's state dir.
chmodSync(dir, 0o711);
const env = {
  ...process.env,
  STRATUS_AGENT_STATE_DIR: join(dir, 'agent'),
  STRATUS_AGENT_SOCKET: join(dir, 'agent.sock'),
};
const bridge = `bxb${randomBytes(3).toString('hex')}`;

function stratus(...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stratus ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const EXT = `name: bench-ext
resources:
  ext:
    type: network
    properties: { external: true, providerBridge: ${bridge} }
  extsub:
    type: subnet
    properties:
      network: \${ext}
      cidr: 203.0.113.0/24
      gatewayIp: 203.0.113.1
outputs:
  ext: \${ext.id}
`;

const routed = (extId: string) => `name: bench-routed
resources:
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.93.0.0/24
  r:
    type: router
    properties:
      externalGateway: { network: ${extId} }
  ri:
    type: router_interface
    properties:
      router: \${r}
      subnet: \${sub}
  fip:
    type: floating_ip
    properties:
      network: ${extId}
`;

const extDir = join(dir, 'ext');
const sgDir = join(dir, 'sg');
let prober: ChildProcess | undefined;
const runDir = join(dir, 'routed');
mkdirSync(extDir);
mkdirSync(runDir);
mkdirSync(sgDir);
spawnSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
spawnSync('ip', ['link', 'set', bridge, 'up']);
try {
  writeFileSync(join(extDir, 'stack.yaml'), EXT);
  stratus('apply', '-auto-approve', extDir);
  const extId = stratus('output', '-raw', extDir, 'ext').trim();
  writeFileSync(join(runDir, 'stack.yaml'), routed(extId));
  const totals: number[] = [];
  const per = new Map<string, number[]>();
  // One warm-up run: the agent's first requests load its code.
  for (let i = 0; i <= RUNS; i++) {
    const t0 = performance.now();
    const out = stratus('apply', '-auto-approve', '-no-color', runDir);
    const ms = performance.now() - t0;
    stratus('destroy', '-auto-approve', runDir);
    if (i === 0) continue;
    totals.push(ms);
    for (const m of out.matchAll(/^(\w+): Creation complete after ([\d.]+)s/gm))
      per.set(m[1]!, [...(per.get(m[1]!) ?? []), Number(m[2]) * 1000]);
    console.log(`run ${i}: ${ms.toFixed(0)} ms`);
  }
  console.log(
    `\ncreate network + subnet + router + interface + floating IP (stratus apply, ${RUNS} runs): median ${median(totals).toFixed(0)} ms, min ${Math.min(...totals).toFixed(0)} ms, max ${Math.max(...totals).toFixed(0)} ms`,
  );
  for (const [name, xs] of per)
    console.log(`  ${name}: median ${median(xs).toFixed(0)} ms (as apply reports it)`);
  if (!opts['skip-rules']) await ruleEffect();
  printFirewallSizes();
} finally {
  prober?.kill('SIGKILL');
  spawnSync(process.execPath, [CLI, 'destroy', '-auto-approve', sgDir], { env });
  spawnSync(process.execPath, [CLI, 'destroy', '-auto-approve', runDir], { env });
  spawnSync(process.execPath, [CLI, 'destroy', '-auto-approve', extDir], { env });
  spawnSync(process.execPath, [CLI, 'agent', 'stop'], { env });
  spawnSync('ip', ['link', 'delete', bridge]);
  rmSync(dir, { recursive: true, force: true });
}

/** Rules (nft) and flows (OpenFlow) of one default-group port with `others` other members. */
function printFirewallSizes(): void {
  const group = '00000000-0000-4000-8000-00000000d0f1';
  for (const others of [2, 20]) {
    const members = ['10.0.0.5', ...Array.from({ length: others }, (_, i) => `10.0.0.${10 + i}`)];
    const p: PortFirewall = {
      portId: '6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab',
      device: 'tap6f1c2d3e4a',
      mark: 0x8001,
      macAddress: 'fa:16:3e:00:00:01',
      fixedIps: ['10.0.0.5'],
      rules: [
        { direction: 'ingress', protocol: 'any', remoteGroupId: group },
        { direction: 'egress', protocol: 'any' },
      ],
      remoteGroups: { [group]: members },
    };
    // Statements inside chains: lines that are neither table/chain/set structure nor a chain's hook.
    const nft = renderPortFirewall(p)
      .split('\n')
      .map((l) => l.trim())
      .filter(
        (l) => l && !/^(table|delete|chain|set|type|elements|}|flags)/.test(l) && !l.endsWith('{'),
      ).length;
    const flows = renderPortFlows(p, { ofport: 0x8001, zone: 1 }).length;
    console.log(
      `firewall of a default-group port with ${others} other members: ${nft} nft rules (Linux bridge; members in a set), ${flows} OpenFlow flows (Open vSwitch; one flow per member)`,
    );
  }
}

/** The guest stack of part 2; with `rule`, the security_group_rule admitting tcp/80. */
function sgStack(rule: boolean): string {
  return `name: bench-rules
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.94.0.0/24
  sg:
    type: security_group
    properties:
      rules:
        - { direction: egress }
  web:
    type: server
    timeouts: { create: 40m }
    properties:
      image: \${img}
      securityGroups: ["\${sg}"]
      networks:
        - subnet: \${sub}
${
  rule
    ? `  http:
    type: security_group_rule
    properties:
      securityGroup: \${sg}
      direction: ingress
      protocol: tcp
      portRangeMin: 80
      portRangeMax: 80
      remoteIpPrefix: 0.0.0.0/0
`
    : ''
}outputs:
  net: \${net.id}
  web: \${web.id}
  ip: \${web.accessIpV4}
  log: \${web.consoleLog}
`;
}

/** The rules in both nftables tables of port `portId` (bridge and inet family). */
function nftRules(portId: string): number {
  let n = 0;
  for (const family of ['bridge', 'inet']) {
    const r = spawnSync('nft', ['-j', 'list', 'table', family, `stratus-port-${portId}`], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`nft list table ${family} stratus-port-${portId}: ${r.stderr}`);
    n += (JSON.parse(r.stdout).nftables as object[]).filter((i) => 'rule' in i).length;
  }
  return n;
}

/** Part 2 and 3: see the head of this file. */
async function ruleEffect(): Promise<void> {
  writeFileSync(join(sgDir, 'stack.yaml'), sgStack(false));
  stratus('apply', '-auto-approve', sgDir);
  const out = (k: string) => stratus('output', '-raw', sgDir, k).trim();
  const [netId, serverId, ip, consoleLog] = [out('net'), out('web'), out('ip'), out('log')];
  // The guest's HTTP server is up once its ready line is on the console (no rule admits a probe yet).
  const deadline = Date.now() + 1_800_000;
  while (!(existsSync(consoleLog) && readFileSync(consoleLog, 'utf8').includes('STRATUS-GUEST-READY'))) {
    if (Date.now() > deadline) throw new Error('the guest did not boot within 30 min');
    await new Promise((r) => setTimeout(r, 1000));
  }
  const portsDir = join(env.STRATUS_AGENT_STATE_DIR, 'records', 'ports');
  const portId = readdirSync(portsDir)
    .map(
      (f) =>
        JSON.parse(readFileSync(join(portsDir, f), 'utf8')) as { id: string; spec: { deviceId: string } },
    )
    .find((p) => p.spec.deviceId === serverId)!.id;
  const rulesWithout = nftRules(portId);

  // The prober: one line `<epoch ms> open|closed` per connection attempt to the guest's port 80.
  const PROBE = `const net = require('node:net');
(function next() {
  const s = net.connect({ host: ${JSON.stringify(ip)}, port: 80, timeout: 1000 });
  const done = (ok) => { s.destroy(); process.stdout.write(Date.now() + (ok ? ' open\\n' : ' closed\\n')); setTimeout(next, 100); };
  s.once('connect', () => done(true)).once('timeout', () => done(false)).once('error', () => done(false));
})();`;
  prober = spawn('ip', ['netns', 'exec', `qdhcp-${netId}`, process.execPath, '-e', PROBE], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen: { at: number; open: boolean }[] = [];
  let buf = '';
  prober.stdout!.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const [at, st] = buf.slice(0, i).split(' ');
      seen.push({ at: Number(at), open: st === 'open' });
      buf = buf.slice(i + 1);
    }
  });
  // When the change showed: accepted, the first accepted probe from `t` on (none is accepted without
  // the rule); refused, the first refused probe after the last accepted one, judged 5 s after the apply
  // ended, so a probe that timed out on a loaded host before the change is not taken for it.
  const shown = async (t: number, ended: number, open: boolean) => {
    const limit = Date.now() + 600_000;
    for (;;) {
      const after = seen.filter((s) => s.at >= t);
      if (open) {
        const hit = after.find((s) => s.open);
        if (hit) return hit.at;
      } else if (Date.now() > ended + 5000) {
        const lastOpen = after.findLastIndex((s) => s.open);
        const hit = after.slice(lastOpen + 1).find((s) => !s.open);
        if (hit) return hit.at;
      }
      if (Date.now() > limit) throw new Error(`the change did not show within 10 min`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  // Before the rule: closed (and the prober runs).
  await shown(Date.now(), 0, false);

  const change = async (rule: boolean) => {
    writeFileSync(join(sgDir, 'stack.yaml'), sgStack(rule));
    const t0 = Date.now();
    stratus('apply', '-auto-approve', sgDir);
    const t1 = Date.now();
    const seenAt = await shown(t0, t1, rule);
    console.log(
      `  ${rule ? 'rule added (connections accepted)' : 'rule removed (new connections refused)'}: ${seenAt - t0} ms after the apply started, ${seenAt - t1} ms after it ended (apply ${t1 - t0} ms)`,
    );
  };
  console.log('\nsecurity group rule change to its effect on traffic (tcp/80 from the DHCP namespace):');
  await change(true);
  const rulesWith = nftRules(portId);
  await change(false);
  console.log(
    `\nnftables rules per port (bridge + inet tables): ${rulesWithout} with the group's egress rule, ${rulesWith} with tcp/80 added`,
  );
  prober.kill('SIGKILL');
}
