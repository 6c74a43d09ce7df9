/**
 * Kill tests (issue 7, findings 13 and 14): `kill -9` of the CLI, and of the agent, at points spread over
 * an apply that imports an image and creates a network, a subnet and a server. After each kill the next
 * normal apply must converge by itself (a dead holder's lock is the one thing it may refuse, and only
 * with the exact command that clears it), leaving no temporary file, no orphan instance or cache file,
 * no child process of a dead agent and no lock; destroy then leaves nothing.
 *
 * Kill points: the agent runs with `--log-level debug`, which logs every host command it runs; a
 * reference apply counts those lines, and kill k of 10 fires when the killed apply has made the agent
 * log (k + 0.5) / KILLS of that count. Where exactly that lands varies from run to run; every kill is
 * checked by the same invariants, so the variation widens coverage and cannot make the test pass
 * wrongly. The image is a 256 MiB raw file (no guest has to boot: the server only has to be created),
 * big enough that copying and hashing it spans several kill points.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, CLI, hostObjectsFor, type Run, sh, stateIds } from './helpers.js';

/**
 * Kill points per kind (CLI, agent): STRATUS_KILL_POINTS, default 5. Each costs a killed apply, a
 * converging apply, a plan and a destroy; 10 per kind takes about 10 minutes on a 2-core TCG host.
 */
const KILLS = Number(process.env.STRATUS_KILL_POINTS) || 5;
const IMAGE_BYTES = 256 << 20;

let t: AgentEnv;
let stack: string;
let state: string;
let agent: ChildProcess;
/** Agent log lines a full apply from nothing produces (measured by the reference apply). */
let applyLines = 0;
/** Leaks seen after the converging apply of each kill: temporaries, orphans, children, locks. */
const leaks: string[] = [];
/** Every resource id any apply of this file created, for cleanup's last-resort sweep. */
const seenIds = new Set<string>();

const TEMP = /\.tmp-\d+-[0-9a-f]+$/;

const records = (c: string): string[] => {
  const d = join(t.stateDir, 'records', c);
  return existsSync(d)
    ? readdirSync(d)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
    : [];
};

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const logLines = (): number => {
  const log = t.agentLogs.at(-1);
  return log && existsSync(log) ? readFileSync(log, 'utf8').split('\n').length - 1 : 0;
};

async function until(what: string, cond: () => boolean, ms = 600_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const startAgent = async () => {
  agent = await t.startAgent('--log-level', 'debug');
};

/** Host processes working for this env other than the live agent, dnsmasq and the domains' QEMUs. */
function strayProcesses(): string[] {
  const live = agent.pid;
  return sh('ps', ['-eo', 'pid=,args='])
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(t.dir))
    .filter((l) => {
      const [pid, cmd = ''] = l.split(/\s+/);
      if (Number(pid) === live) return false;
      if (/(^|\/)dnsmasq$/.test(cmd) || /qemu-system/.test(cmd)) return false;
      // The CLI processes of this test (none should be running here) and ps itself.
      return !l.includes(CLI) && !/^ps\b/.test(cmd);
    });
}

/** What the agent state dir holds that no record owns, any temporary, and a left lock. */
function leftovers(): string[] {
  const found: string[] = [];
  for (const f of walk(t.dir)) if (TEMP.test(f)) found.push(`temporary file ${f}`);
  const servers = new Set(records('servers'));
  const instances = join(t.stateDir, 'instances');
  if (existsSync(instances))
    for (const id of readdirSync(instances))
      if (!servers.has(id)) found.push(`instance files of unknown server ${join(instances, id)}`);
  const images = new Set(records('images'));
  const cache = join(t.stateDir, 'images');
  if (existsSync(cache))
    for (const f of readdirSync(cache))
      if (!TEMP.test(f) && ![...images].some((id) => f.startsWith(id)))
        found.push(`cache file of unknown image ${join(cache, f)}`);
  for (const p of strayProcesses()) found.push(`process ${p}`);
  if (existsSync(`${state}.lock`)) found.push(`lock ${state}.lock: ${readFileSync(`${state}.lock`, 'utf8')}`);
  return found;
}

const show = (r: Run) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

/** A normal apply after a kill: it converges, clearing a dead holder's lock only through its own message. */
async function converge(context: string): Promise<void> {
  let r = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  if (r.code !== 0 && /is locked by/.test(r.stderr)) {
    // A CLI killed while holding the lock: the next run must see that its holder is dead and say how to
    // clear it (Terraform's force-unlock); a live holder's lock is never taken.
    const m = /no longer running .* remove it with: (stratus force-unlock (\S+) --state \S+)/.exec(r.stderr);
    assert.ok(m, `${context}: the lock of a killed CLI is not reported as stale:\n${show(r)}`);
    // The printed command names no stack, which force-unlock needs outside the stack's folder; the
    // stack is given here as its usage says.
    const unlock = await t.stratus('force-unlock', '--state', state, stack, m[2]!);
    assert.equal(unlock.code, 0, `${context}: ${m[1]}:\n${show(unlock)}`);
    r = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  }
  assert.equal(r.code, 0, `${context}: the apply after the kill did not converge:\n${show(r)}`);
  for (const { id } of stateIds(state)) seenIds.add(id);
  const plan = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(plan.code, 0, `${context}: plan after the converging apply is not empty:\n${show(plan)}`);
  assert.deepEqual(
    ['images', 'networks', 'subnets', 'servers'].map((c) => records(c).length),
    [1, 1, 1, 1],
    `${context}: not exactly one of each on the agent`,
  );
  for (const l of leftovers()) if (!leaks.some((x) => x.endsWith(l))) leaks.push(`${context}: ${l}`);
}

/** Destroy leaves nothing: no state entry, record, host object, cache or instance file. */
async function destroyAll(context: string): Promise<void> {
  const ids = stateIds(state).map((r) => r.id);
  const d = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(d.code, 0, `${context}: destroy:\n${show(d)}`);
  assert.deepEqual(stateIds(state), [], `${context}: state after destroy`);
  assert.deepEqual(
    ['images', 'networks', 'subnets', 'servers', 'ports'].flatMap(records),
    [],
    `${context}: records left`,
  );
  assert.deepEqual(hostObjectsFor(ids), [], `${context}: host objects left`);
  const files = [...walk(join(t.stateDir, 'images')), ...walk(join(t.stateDir, 'instances'))];
  assert.deepEqual(
    files.filter((f) => !TEMP.test(f)),
    [],
    `${context}: cache or instance files left`,
  );
  for (const f of files.filter((f) => TEMP.test(f)))
    leaks.push(`${context}: after destroy, temporary file ${f}`);
}

/** Starts an apply from nothing and kills `who` when the agent has logged `lines` lines since. */
async function killedApply(who: 'cli' | 'agent', k: number): Promise<string> {
  const lines = Math.max(1, Math.round(((k + 0.5) * applyLines) / KILLS));
  const base = logLines();
  const cli = spawn(process.execPath, [CLI, 'apply', '--auto-approve', '--state', state, stack], {
    env: { ...process.env, ...t.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  cli.stdout.on('data', (b: Buffer) => (output += b));
  cli.stderr.on('data', (b: Buffer) => (output += b));
  const exited = new Promise<number | null>((r) => cli.on('close', (c) => r(c)));
  let done = false;
  void exited.then(() => (done = true));
  await until(`agent log line ${lines} of the apply`, () => done || logLines() - base >= lines);
  const at = logLines() - base;
  const ended = done;
  if (!ended) {
    if (who === 'cli') cli.kill('SIGKILL');
    else {
      const a = agent;
      a.kill('SIGKILL');
      await new Promise((r) => (a.exitCode !== null || a.signalCode !== null ? r(null) : a.once('exit', r)));
      // The dead agent's children (cp, qemu-img) must die with it, not run on unowned.
      for (const p of strayProcesses())
        leaks.push(`kill -9 of the agent at agent log line ${logLines() - base}: its child survived: ${p}`);
      await startAgent();
    }
  }
  const code = await exited;
  const last = output.trim().split('\n').at(-1)?.trim().slice(0, 100) ?? '';
  return ended
    ? `kill ${k} of the ${who}: the apply had ended (exit ${code}) before agent log line ${lines}`
    : `kill -9 of the ${who} at agent log line ${at}/${applyLines} (apply exit ${code}: ${last})`;
}

before(async () => {
  t = agentEnv('kill');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  const image = join(t.dir, 'disk.raw');
  // Not zeros: the copy and the checksum read every byte.
  writeFileSync(image, Buffer.alloc(IMAGE_BYTES, 0x5a));
  writeFileSync(
    stack,
    `name: kill
resources:
  img:
    type: image
    properties:
      source: ${image}
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.77.0.0/24
  vm:
    type: server
    properties:
      image: \${img}
      memoryMb: 64
      networks:
        - subnet: \${sub}
`,
  );
  await startAgent();
});

after(async () => {
  // A lock left by a killed CLI when a check failed: cleanup's destroy needs the state.
  const lock = `${state}.lock`;
  if (existsSync(lock)) {
    const id = (JSON.parse(readFileSync(lock, 'utf8')) as { id?: string }).id;
    if (id) await t.stratus('force-unlock', '--state', state, stack, id);
  }
  await t.cleanup([state]);
  const left = hostObjectsFor([...seenIds]);
  if (left.length) process.stderr.write(`kill test cleanup left: ${left.join(', ')}\n`);
});

test('kill -9 of the CLI and of the agent at points spread over an apply with an image import: the next apply converges, destroy leaves nothing', async (ctx) => {
  // Reference apply: the number of agent log lines a whole apply makes, and the invariants hold.
  const base = logLines();
  const first = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(first.code, 0, `reference apply:\n${show(first)}`);
  applyLines = logLines() - base;
  assert.ok(applyLines > 10, `the debug log of an apply has only ${applyLines} lines`);
  for (const { id } of stateIds(state)) seenIds.add(id);
  await destroyAll('reference');

  for (const who of ['cli', 'agent'] as const)
    for (let k = 0; k < KILLS; k++) {
      const what = await killedApply(who, k);
      ctx.diagnostic(what);
      for (const { id } of stateIds(state)) seenIds.add(id);
      await converge(what);
      await destroyAll(what);
    }
  await ctx.test(
    'nothing is left behind: no temporary, orphan file, child process of a dead agent or lock',
    {
      todo: 'issue 7 finding 13: the agent neither sweeps image temporaries at start nor takes its cp/qemu-img children down with it (work under way)',
    },
    () => assert.deepEqual(leaks, [], 'left behind after kills'),
  );
});
