/**
 * Kill tests (issue 7, findings 13 and 14): `kill -9` of the CLI, and of the agent, at points spread over
 * an apply that imports an image and creates a network, a subnet and a server. After each kill the next
 * normal apply must converge by itself: it clears a dead CLI's lock on its own (saying so in one line),
 * and afterwards nothing is left that it did not clear: no temporary under the agent's state dir, no
 * child of the killed process (`cp`, `qemu-img`, a dnsmasq of a network no record has), no lock, no
 * domain, disk, cache file, record or other host object of a resource no state owns. Destroy then
 * leaves nothing.
 *
 * Kill points are events, not times: a reference apply is watched for its stages, each the n-th
 * occurrence of an agent log message (the agent runs with `--log-level debug`, which logs every host
 * command it runs, by command name) or of a kind of file appearing in the image cache (the upload being
 * written, stored, the cache copy). The stages are those of an apply on a warm agent (a second reference
 * apply), as every killed apply meets one: a fresh agent's one-time work (its libvirt connection) is no
 * stage a later apply reaches. Kill k of KILLS fires when the killed apply reaches stage (k + 0.5) /
 * KILLS of that list, or any later one (a stage may be missed: a file that lives for milliseconds, or
 * concurrent resources reordering the log), so every kill lands while the apply still runs; the test
 * reports how many did and requires all. The image is a 64 MiB raw file (no guest has to boot: the
 * server only has to be created), big enough that the upload and the copy are stages of their own.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, CLI, hostObjectsFor, type Run, sh, stateIds } from './helpers.js';

/**
 * Kill points per kind (CLI, agent): STRATUS_KILL_POINTS, default 10. Each costs a killed apply, a
 * converging apply, a plan and a destroy, with one agent kept between CLI kills.
 */
const KILLS = Number(process.env.STRATUS_KILL_POINTS) || 10;
const IMAGE_BYTES = 64 << 20;

let t: AgentEnv;
let stack: string;
let state: string;
let agent: ChildProcess;
/** The stages of a full apply from nothing, in order (measured by the reference apply). */
let stages: string[] = [];
/** Leaks seen after the converging apply of each kill. */
const leaks: string[] = [];
/** Every resource id any apply of this file created, for cleanup's last-resort sweep. */
const seenIds = new Set<string>();

/** Names the agent gives work in progress: uploads, cache copies, stale-lock moves. */
const TEMP = /^\.|\.tmp-|\.stale-/;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

const records = (c: string): string[] => {
  const d = join(t.stateDir, 'records', c);
  return existsSync(d)
    ? readdirSync(d)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
    : [];
};

/** Every file under `dir`, and every directory with a temporary's name (a staging directory). */
function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory() && !TEMP.test(name)) walk(p, out);
    else out.push(p);
  }
  return out;
}

const agentLog = (): string[] =>
  t.agentLogs.flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n') : []));

/**
 * Watches an apply for its stages: each agent log message (by message and, for host commands, command
 * name) and each kind of file appearing in the image cache, numbered by occurrence (`run ip #3`).
 */
class Stages {
  readonly seen: string[] = [];
  private readonly counts = new Map<string, number>();
  private readonly files = new Set<string>();
  /** Bytes of each agent log already read: from its end at the start, so only this apply's lines count. */
  private readonly read = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  constructor() {
    for (const f of t.agentLogs) this.read.set(f, existsSync(f) ? statSync(f).size : 0);
  }
  private add(key: string): void {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    this.seen.push(`${key} #${n}`);
  }
  private newLines(): string[] {
    const lines: string[] = [];
    for (const f of t.agentLogs) {
      const from = this.read.get(f) ?? 0;
      const size = existsSync(f) ? statSync(f).size : 0;
      if (size <= from) continue;
      const fd = openSync(f, 'r');
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      closeSync(fd);
      this.read.set(f, size);
      const text = (this.partial.get(f) ?? '') + buf.toString('utf8');
      const parts = text.split('\n');
      this.partial.set(f, parts.pop() ?? '');
      lines.push(...parts);
    }
    return lines;
  }
  poll(): void {
    for (const line of this.newLines()) {
      let e: { msg?: string; command?: string };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        continue;
      }
      // Requests come in any order with concurrent resources; what they do is the stage.
      if (!e.msg || e.msg === 'request') continue;
      this.add(`log ${e.msg}${e.command ? ` ${basename(e.command)}` : ''}`);
    }
    const cache = join(t.stateDir, 'images');
    for (const f of existsSync(cache) ? readdirSync(cache) : [])
      if (!this.files.has(f)) {
        this.files.add(f);
        this.add(
          `file ${f
            .replace(UUID, 'ID')
            .replace(/[0-9a-f]{64}/, 'SHA')
            .replace(/tmp-.*/, 'tmp-*')}`,
        );
      }
  }
}

async function until(what: string, cond: () => boolean, ms = 900_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const startAgent = async () => {
  agent = await t.startAgent('--log-level', 'debug');
};

const show = (r: Run) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

/** Ids of the networks the agent has a record of. */
const networks = () => new Set(records('networks'));

/**
 * Processes of this env other than the live agent, the dnsmasq of a network that exists and the QEMU of
 * a domain (and the `alive` pids): a `cp` or `qemu-img` left by a dead agent, a dnsmasq of a network no
 * record has, a CLI.
 */
function strayProcesses(alive: number[] = []): string[] {
  const live = [agent.pid, ...alive];
  const nets = networks();
  const procs = sh('ps', ['-eo', 'pid=,ppid=,args='])
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(([, pid, ppid, args]) => ({ pid: Number(pid), ppid: Number(ppid), args: args! }));
  const argsOf = new Map(procs.map((p) => [p.pid, p.args]));
  return procs
    .filter(({ args }) => args.includes(t.dir))
    .filter(({ pid, ppid, args }) => {
      if (live.includes(pid) || /^ps\b/.test(args)) return false;
      // A child a live process is spawning shows its parent's command line until its exec: caught in
      // that moment, it is no process of its own yet.
      if (live.includes(ppid) && argsOf.get(ppid) === args) return false;
      if (/qemu-system/.test(args)) return false;
      const dhcp = /--pid-file=\S*\/dhcp\/([0-9a-f-]{36})\//.exec(args);
      if (dhcp && /dnsmasq/.test(args)) return !nets.has(dhcp[1]!);
      return true;
    })
    .map(({ pid, args }) => `${pid} ${args}`);
}

/**
 * What the converging apply left that it should have cleared: temporaries under the agent's state dir,
 * stray processes, the state lock, and every record, domain, disk, cache file or host object of an id
 * the agent ever logged that the state does not own.
 */
function leftovers(): string[] {
  const found: string[] = [];
  for (const f of walk(t.stateDir)) if (TEMP.test(basename(f))) found.push(`temporary file ${f}`);
  // The CLI's own: a state write cut short by the kill.
  for (const f of readdirSync(t.dir))
    if (f.startsWith(`.${basename(state)}.tmp-`)) found.push(`temporary state file ${join(t.dir, f)}`);
  for (const p of strayProcesses()) found.push(`process ${p}`);
  if (existsSync(`${state}.lock`)) found.push(`lock ${state}.lock: ${readFileSync(`${state}.lock`, 'utf8')}`);
  const owned = new Set(stateIds(state).map((r) => r.id));
  for (const c of ['images', 'networks', 'subnets', 'servers'])
    for (const id of records(c)) if (!owned.has(id)) found.push(`${c} record ${id} no state owns`);
  const servers = new Set(records('servers'));
  const instances = join(t.stateDir, 'instances');
  if (existsSync(instances))
    for (const id of readdirSync(instances))
      if (!servers.has(id)) found.push(`instance files of unknown server ${join(instances, id)}`);
  const images = new Set(records('images'));
  const cache = join(t.stateDir, 'images');
  if (existsSync(cache))
    for (const f of readdirSync(cache)) {
      if (f === 'blobs') {
        // Content-addressed data: each blob is hard-linked by the images that use it.
        for (const b of readdirSync(join(cache, f))) {
          const path = join(cache, f, b);
          if (b.endsWith('.json')) {
            if (!existsSync(path.slice(0, -5))) found.push(`cache metadata of no blob ${path}`);
          } else if (statSync(path).nlink < 2) found.push(`cache blob no image links to ${path}`);
        }
      } else if (!TEMP.test(f) && ![...images].some((id) => f.startsWith(id)))
        found.push(`cache file of unknown image ${join(cache, f)}`);
    }
  const logged = new Set(agentLog().flatMap((l) => l.match(UUID) ?? []));
  for (const id of logged) seenIds.add(id);
  for (const o of hostObjectsFor([...logged].filter((id) => !owned.has(id))))
    found.push(`${o}, of no resource in state`);
  return found;
}

/** A normal apply after a kill converges by itself, clearing a dead CLI's lock with a one-line note. */
async function converge(context: string): Promise<void> {
  const locked = existsSync(`${state}.lock`);
  const r = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(r.code, 0, `${context}: the apply after the kill did not converge:\n${show(r)}`);
  const notes = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /stale lock/.test(l));
  if (locked)
    assert.equal(
      notes.length,
      1,
      `${context}: the killed run's lock was not cleared with one note:\n${show(r)}`,
    );
  for (const { id } of stateIds(state)) seenIds.add(id);
  const plan = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(plan.code, 0, `${context}: plan after the converging apply is not empty:\n${show(plan)}`);
  assert.deepEqual(
    ['images', 'networks', 'subnets', 'servers'].map((c) => records(c).length),
    [1, 1, 1, 1],
    `${context}: not exactly one of each on the agent`,
  );
  for (const l of leftovers()) leaks.push(`${context}: ${l}`);
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
    files.filter((f) => !TEMP.test(basename(f))),
    [],
    `${context}: cache or instance files left`,
  );
  // Temporaries are leaks, reported with all others at the end, so later kill points still run.
  for (const f of files.filter((f) => TEMP.test(basename(f))))
    leaks.push(`${context}: after destroy, temporary file ${f}`);
}

/** What one killed apply did: whether the kill landed before the apply ended, and a line saying so. */
interface Kill {
  effective: boolean;
  text: string;
}

/**
 * Starts an apply from nothing and kills `who` when the apply reaches stage `stages[at]` or a later one
 * (by the reference order).
 */
async function killedApply(who: 'cli' | 'agent', at: number): Promise<Kill> {
  const stage = stages[at]!;
  const order = new Map(stages.map((s, i) => [s, i]));
  const watch = new Stages();
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
  let reached = '';
  await until(`stage ${stage} of the apply`, () => {
    watch.poll();
    reached = watch.seen.find((s) => (order.get(s) ?? -1) >= at) ?? '';
    return done || reached !== '';
  });
  const ended = done;
  if (!ended) {
    if (who === 'cli') cli.kill('SIGKILL');
    else {
      const a = agent;
      a.kill('SIGKILL');
      await new Promise((r) => (a.exitCode !== null || a.signalCode !== null ? r(null) : a.once('exit', r)));
      // Its children get their parent-death signal as it dies; give them the moment that takes (an
      // event: each one's exit), so only a child that really outlives its agent counts as a leak.
      await until(
        "the killed agent's children to exit",
        () => strayProcesses([cli.pid!]).length === 0,
        10_000,
      ).catch(() => {});
      // The dead agent's children (cp, qemu-img) die with it, not run on unowned; the CLI lives on.
      for (const p of strayProcesses([cli.pid!]))
        leaks.push(`kill -9 of the agent at ${stage}: its child survived: ${p}`);
      await startAgent();
    }
  }
  const code = await exited;
  const last = output.trim().split('\n').at(-1)?.trim().slice(0, 100) ?? '';
  const where = reached === stage ? stage : `${stage} (passed: ${reached})`;
  return ended
    ? {
        effective: false,
        text: `kill of the ${who} at ${stage}: the apply had ended (exit ${code}) before it`,
      }
    : { effective: true, text: `kill -9 of the ${who} at ${where} (apply exit ${code}: ${last})` };
}

before(async () => {
  t = agentEnv('kill');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  const image = join(t.dir, 'disk.raw');
  // Not zeros: the copy and the checksum read every byte.
  writeFileSync(image, Buffer.alloc(IMAGE_BYTES, 0xa5));
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

/**
 * An apply from nothing on the running agent, and its destroy: the invariants hold without a kill.
 * Answers the apply's stages, up to the CLI's exit only (what the agent logs after it, a closing
 * connection, is no point a kill of the apply can land on).
 */
async function referenceApply(context: string): Promise<string[]> {
  const watch = new Stages();
  const applying = t.stratus('apply', '--auto-approve', '--state', state, stack);
  let done = false;
  void applying.then(() => (done = true));
  await until(context, () => {
    watch.poll();
    return done;
  });
  const first = await applying;
  assert.equal(first.code, 0, `${context}:\n${show(first)}`);
  for (const l of leftovers()) leaks.push(`${context}: ${l}`);
  await destroyAll(context);
  return watch.seen;
}

test('kill -9 of the CLI and of the agent at stages spread over an apply with an image import: the next apply converges and clears everything, destroy leaves nothing', async (ctx) => {
  // The first reference apply warms the agent (it connects to libvirt once); the second is the one
  // every killed apply resembles.
  const cold = await referenceApply('reference apply on a fresh agent');
  stages = await referenceApply('reference apply on a warm agent');
  ctx.diagnostic(
    `stages only a fresh agent has: ${cold.filter((s) => !stages.includes(s)).join(', ') || 'none'}`,
  );
  assert.ok(stages.length >= KILLS, `the apply has only ${stages.length} stages: ${stages.join(', ')}`);
  assert.ok(
    stages.some((s) => s.startsWith('file .')),
    `the reference apply shows no upload or copy in progress: ${stages.join(', ')}`,
  );
  ctx.diagnostic(`stages of an apply: ${stages.join(', ')}`);

  const missed: string[] = [];
  const effective = { cli: 0, agent: 0 };
  for (const who of ['cli', 'agent'] as const)
    for (let k = 0; k < KILLS; k++) {
      const kill = await killedApply(who, Math.floor(((k + 0.5) * stages.length) / KILLS));
      ctx.diagnostic(kill.text);
      if (kill.effective) effective[who]++;
      else missed.push(kill.text);
      for (const { id } of stateIds(state)) seenIds.add(id);
      await converge(kill.text);
      await destroyAll(kill.text);
    }
  ctx.diagnostic(
    `effective kill points (the apply still ran): CLI ${effective.cli} of ${KILLS}, agent ${effective.agent} of ${KILLS}`,
  );
  assert.deepEqual(leaks, [], 'left behind after kills');
  assert.deepEqual(missed, [], 'kill points that landed after the apply had ended');
});
