import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, CLI, hostObjectsFor, IMAGE, ROOT, sh, stateIds } from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

async function until(what: string, cond: () => boolean, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(() => {
  t = agentEnv('restart');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  writeFileSync(
    stack,
    readFileSync(join(ROOT, 'examples/quickstart/stack.yaml'), 'utf8').replace(
      'source: ../../build/images/stratus-guest.qcow2',
      `source: ${IMAGE}`,
    ),
  );
});

after(async () => {
  await t.cleanup([state]);
});

const records = (c: string) => {
  const d = join(t.stateDir, 'records', c);
  return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json')) : [];
};

test('the agent killed in the middle of an apply: the next apply converges with no duplicates', async () => {
  const first = await t.startAgent();
  const apply = spawn(process.execPath, [CLI, 'apply', '--auto-approve', '--state', state, stack], {
    env: { ...process.env, ...t.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  apply.stdout.on('data', (b: Buffer) => (output += b));
  apply.stderr.on('data', (b: Buffer) => (output += b));
  const applyDone = new Promise<number>((r) => apply.on('close', (c) => r(c ?? 1)));

  // Kill the agent hard while it is creating the server: its record exists, the domain may not yet.
  await until('server record', () => records('servers').length > 0);
  first.kill('SIGKILL');
  await new Promise((r) => first.on('exit', r));
  await t.startAgent();
  const code = await applyDone;
  // The interrupted apply either retried through the restart or failed; both are fine. What matters:
  const again = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(
    again.code,
    0,
    `second apply:\n${again.stdout}\n${again.stderr}\n(first apply exit ${code}:\n${output})`,
  );
  const plan = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(plan.code, 0, plan.stdout + plan.stderr);

  // Exactly one of each, on the agent and on the host.
  assert.deepEqual(
    ['images', 'networks', 'subnets', 'servers'].map((c) => records(c).length),
    [1, 1, 1, 1],
  );
  const ids = stateIds(state);
  const server = ids.find((r) => r.type === 'server')!;
  // Domains made by this test's agent (their disks live under its state dir); other test files may be
  // creating domains at the same time.
  const ours = sh('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'])
    .split('\n')
    .filter((d) => d && sh('virsh', ['-c', 'qemu:///system', 'dumpxml', d]).includes(t.stateDir));
  assert.deepEqual(ours, [`stratus-${server.id}`]);
  const net = ids.find((r) => r.type === 'network')!;
  assert.equal(hostObjectsFor([net.id]).filter((o) => o.startsWith('bridge')).length, 1);
  const dnsmasqs = sh('ps', ['-eo', 'args'])
    .split('\n')
    .filter((p) => p.startsWith('dnsmasq') && p.includes(net.id));
  assert.equal(dnsmasqs.length, 1, dnsmasqs.join('\n'));
});
