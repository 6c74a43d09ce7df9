// Measures creating a routed network with `stratus apply`: network + subnet + router (gateway on an
// external network) + router interface + floating IP, against a private agent. The external network and
// its subnet (the floating IP pool, on a provider bridge this bench makes) are applied once, in their own
// stack, before the runs; each run applies the routed stack and destroys it again. It prints every run,
// the median, min and max of the apply (wall clock of the CLI, which includes starting Node), and each
// resource's own create time as apply reports it. It asserts nothing about time. Then the size of one
// port's firewall as each backend renders it (nft rules on a Linux bridge, OpenFlow flows on Open
// vSwitch), for a port in the default group with 2 and 20 other members: counted from the renderers
// the agent loads, not read from a host.
//
//   npx turbo run build && node --import tsx bench/network.ts          # 5 runs
//   node --import tsx bench/network.ts --runs 9
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderPortFlows } from '../packages/agent/src/network/firewall/openflow.js';
import { type PortFirewall, renderPortFirewall } from '../packages/agent/src/network/firewall/ruleset.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/sdk/dist/cli/main.js');
const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
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
const runDir = join(dir, 'routed');
mkdirSync(extDir);
mkdirSync(runDir);
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
  printFirewallSizes();
} finally {
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
