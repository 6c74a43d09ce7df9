// Measures how long a no-op `stratus plan -refresh=false` takes on 1,000 and 10,000 resources: the
// stack file's text is loaded (YAML + schema), checked (references, graph) and planned against the
// state of an earlier apply. Every measured plan is verified to be empty: timing a wrong result is
// worthless.
//
//   node --import tsx bench/plan-scale.ts            # the full bench (about 20 s on 2 cores)
//   node --import tsx bench/plan-scale.ts --quick    # 1 run per size, for profiling
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateInputs } from '@stratus/model';
import { applyPlan } from '../packages/sdk/src/engine/apply.js';
import { checkStack } from '../packages/sdk/src/engine/check.js';
import type { StackConfig } from '../packages/sdk/src/engine/config.js';
import type { Graph } from '../packages/sdk/src/engine/graph.js';
import { emptyState, hasChanges, makePlan, type Plan } from '../packages/sdk/src/engine/plan.js';
import { unrefreshed } from '../packages/sdk/src/engine/refresh.js';
import { getPath, resolveValue } from '../packages/sdk/src/engine/values.js';
import { loadStackText } from '../packages/sdk/src/loaders/stack-yaml.js';
import { LocalBackend } from '../packages/sdk/src/state/local.js';
import type { StateDoc, StateResource } from '../packages/sdk/src/state/types.js';
import { MemoryHandlers } from '../packages/sdk/src/testing/memory-handlers.js';

const TARGET_10K_MS = 1000;
const TARGET_RATIO = 12;
const quick = process.argv.includes('--quick');
const SIZES = [
  { n: 1_000, runs: quick ? 1 : 9, warmup: quick ? 1 : 3 },
  { n: 10_000, runs: quick ? 1 : 7, warmup: quick ? 1 : 2 },
];
const FILE = '/bench/stack.yaml';
// In-memory handlers never reach an agent; the client only satisfies the type.
/** Calls of in-memory providers reach no host. */
const ctx = { signal: new AbortController().signal, log: { debug() {}, warn() {} }, host: 'local' };
/** Providers for checks (validation is pure). */
const checkProviders = new MemoryHandlers().providers;

/**
 * A stack of `n` resources (a multiple of 10) in groups of ten: a network, two subnets on it, an image
 * and six servers booting that image on one of the subnets (or the network), with user data naming
 * the network's bridge. Every size has the same shape, so the 10k/1k ratio measures scaling alone.
 * Values vary per group (CIDRs are all distinct).
 */
export function stackYaml(n: number): string {
  assert.equal(n % 10, 0, 'the stack size must be a multiple of 10');
  const lines = ['name: bench', 'resources:'];
  let subnets = 0;
  for (let g = 0; g < n / 10; g++) {
    lines.push(
      `  net-${g}:`,
      '    type: network',
      '    properties:',
      `      mtu: ${g % 3 === 0 ? 9000 : 1500}`,
    );
    for (const s of ['a', 'b']) {
      const k = subnets++;
      lines.push(
        `  sub-${g}-${s}:`,
        '    type: subnet',
        '    properties:',
        `      network: \${net-${g}}`,
        `      cidr: 10.${k >> 8}.${k & 255}.0/24`,
        `      dnsNameservers: [10.${k >> 8}.${k & 255}.53${s === 'a' ? ', 1.1.1.1' : ''}]`,
      );
    }
    lines.push(
      `  img-${g}:`,
      '    type: image',
      '    properties:',
      `      name: guest image ${g}`,
      `      source: /var/lib/images/guest-${g % 7}.qcow2`,
    );
    for (let v = 0; v < 6; v++) {
      lines.push(
        `  vm-${g}-${v}:`,
        '    type: server',
        '    properties:',
        `      image: \${img-${g}}`,
        `      vcpus: ${1 + (v % 4)}`,
        `      memoryMb: ${512 * (1 + (v % 3))}`,
        '      networks:',
        // One server in six is on the network rather than a subnet: it then depends on both subnets.
        v === 3
          ? `        - network: \${net-${g}}`
          : `        - subnet: \${sub-${g}-${v % 2 === 0 ? 'a' : 'b'}}`,
        '      userData: |',
        '        #!/bin/sh',
        `        echo "vm ${g}-${v} on \${net-${g}.bridge}" > /etc/motd`,
      );
      if (v === 5) lines.push('    dependsOn: [vm-' + g + '-0]');
    }
  }
  lines.push('outputs:');
  for (let g = 0; g < Math.min(n / 10, 20); g++) lines.push(`  ip-${g}: \${vm-${g}-0.accessIpV4}`);
  return `${lines.join('\n')}\n`;
}

/** Loads and checks a stack, failing on any diagnostic. */
function loadChecked(yaml: string): { config: StackConfig; graph: Graph } {
  const { config, diagnostics } = loadStackText(yaml, FILE);
  assert.ok(config, diagnostics.items.map((d) => d.message).join('\n'));
  const checked = checkStack(config, checkProviders);
  const all = [...diagnostics.items, ...checked.diagnostics.items];
  assert.deepEqual(all, [], all.map((d) => d.message).join('\n'));
  return { config, graph: checked.graph };
}

/**
 * The state an apply of `config` from scratch leaves, made without its per-resource state writes:
 * each resource is created (dependencies first) by the same in-memory handler with the inputs apply
 * would resolve, validate and send, and recorded as apply records it. Apply writes the whole state
 * after every resource (read, back up, fsync), which is quadratic and would take far longer than the
 * bench itself at 10,000 resources; `checkEquivalence` shows the two give the same state. Resources are
 * created in the order of the checked graph, and record its dependencies, as applyPlan does.
 */
export async function applyDirect(config: StackConfig, graph: Graph, mem: MemoryHandlers): Promise<StateDoc> {
  const doc = emptyState(config.name);
  const byName = new Map<string, StateResource>();
  const lookup = (ref: { resource: string; path: readonly (string | number)[] }) => {
    const r = byName.get(ref.resource);
    if (!r) throw new Error(`${ref.resource} is not in state`);
    return ref.path.length === 0 ? r.id : getPath({ id: r.id, ...r.attributes }, ref.path);
  };
  const providers = mem.providers;
  for (const name of graph.topoOrder()) {
    const rc = config.resources.get(name)!;
    const inputs = resolveValue(rc.properties, lookup) as Record<string, unknown>;
    assert.deepEqual(validateInputs(rc.type, inputs), []);
    const id = randomUUID();
    const p = providers[rc.type];
    const planned = p.plan({ prior: null, proposed: inputs }).planned!;
    const res = await p.apply(ctx, { id, prior: null, planned });
    const dependencies = graph.dependencies(name).sort();
    const r: StateResource = {
      name,
      type: rc.type,
      id,
      host: 'local',
      attributes: res.newState!,
      dependencies,
      schemaVersion: p.schemaVersion,
      status: 'ready',
    };
    byName.set(name, r);
    doc.resources.push(r);
  }
  for (const o of config.outputs.values())
    doc.outputs[o.name] = { value: resolveValue(o.value, lookup), sensitive: o.sensitive };
  doc.serial = 1;
  // As the CLI reads it: parsed from the state file's JSON, sharing nothing with the world.
  return JSON.parse(JSON.stringify(doc)) as StateDoc;
}

/** A state with ids replaced by resource names, so two applies of one stack can be compared. */
function canonical(doc: StateDoc): unknown {
  const ids = new Map<string, string>();
  for (const r of doc.resources) {
    ids.set(r.id, `<${r.name}>`);
    ids.set(r.id.slice(0, 8), `<${r.name}>`);
  }
  const swap = (v: unknown): unknown => {
    if (typeof v === 'string')
      return v.replace(
        /[0-9a-f]{8}(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?/g,
        (m) => ids.get(m) ?? m,
      );
    if (Array.isArray(v)) return v.map(swap);
    // Keys sorted: the two states are compared by content, not by the order fields were written in.
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v)
          .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
          .map(([k, x]) => [k, swap(x)]),
      );
    return v;
  };
  const resources = [...doc.resources]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((r) => ({ ...(swap(r) as StateResource), id: `<${r.name}>` }));
  return { resources, outputs: swap(doc.outputs) };
}

/** Shows on a small stack of the same shape that `applyDirect` leaves the state the engine's apply does. */
async function checkEquivalence(): Promise<void> {
  const { config, graph } = loadChecked(stackYaml(50));
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-'));
  try {
    const backend = new LocalBackend(join(dir, 'state.json'));
    const engineMem = new MemoryHandlers();
    const state = emptyState(config.name);
    const plan = makePlan(config, graph, unrefreshed(state), null, engineMem.providers);
    const result = await applyPlan({ plan, state, backend, providers: engineMem.providers });
    assert.ok(result.ok, JSON.stringify(result.errors));
    const viaEngine = (await backend.read())!;
    const direct = await applyDirect(config, graph, new MemoryHandlers());
    const a = JSON.stringify(canonical(direct));
    const b = JSON.stringify(canonical(viaEngine));
    if (a !== b) {
      let at = [...a].findIndex((ch, i) => ch !== b[i]);
      if (at < 0) at = a.length;
      throw new Error(
        `applyDirect differs from applyPlan near: ${a.slice(Math.max(0, at - 80), at + 80)} / ${b.slice(Math.max(0, at - 80), at + 80)}`,
      );
    }
    assert.equal(engineMem.objects.size, 50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The state file's text after applying `yaml` to an empty in-memory world. Nothing of the apply (the
 * config, the world) outlives this call, so the measured plans run with a heap like the CLI's.
 */
async function appliedStateJson(yaml: string, n: number): Promise<string> {
  const { config, graph } = loadChecked(yaml);
  const mem = new MemoryHandlers();
  const state = await applyDirect(config, graph, mem);
  assert.equal(state.resources.length, n);
  assert.equal(mem.objects.size, n);
  assert.ok(state.resources.every((r) => mem.objects.get(r.id)?.type === r.type));
  return JSON.stringify(state);
}

interface Sample {
  load: number;
  check: number;
  plan: number;
  total: number;
  /** CPU time of the whole plan (user + system, all threads, so GC helpers too), in ms. */
  cpu: number;
}

/** One no-op plan as `stratus plan -refresh=false` makes it, timed per phase and verified empty. */
function planOnce(yaml: string, state: StateDoc, n: number): Sample {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const { config, diagnostics } = loadStackText(yaml, FILE);
  const t1 = performance.now();
  if (!config || diagnostics.items.length) throw new Error('the bench stack does not load cleanly');
  const checked = checkStack(config, checkProviders);
  const t2 = performance.now();
  if (checked.diagnostics.items.length) throw new Error('the bench stack does not check cleanly');
  const plan: Plan = makePlan(config, checked.graph, unrefreshed(state), state, checkProviders);
  const t3 = performance.now();
  const c = process.cpuUsage(c0);
  assertEmpty(plan, n);
  return { load: t1 - t0, check: t2 - t1, plan: t3 - t2, total: t3 - t0, cpu: (c.user + c.system) / 1000 };
}

/**
 * A destroy plan of the applied stack (`stratus destroy -refresh=false` before it asks): its time in ms,
 * verified to delete every resource. Not in the targets; shown so that ordering deletes stays linear.
 */
function destroyPlanOnce(yaml: string, state: StateDoc, n: number): number {
  const { config } = loadStackText(yaml, FILE);
  const checked = checkStack(config!, checkProviders);
  const t = performance.now();
  const plan = makePlan(config!, checked.graph, unrefreshed(state), state, checkProviders, { destroy: true });
  const ms = performance.now() - t;
  if (plan.errors.length || plan.changes.filter((c) => c.action === 'delete').length !== n)
    throw new Error('the destroy plan does not delete every resource');
  return ms;
}

function assertEmpty(plan: Plan, n: number): void {
  const changed = plan.changes.filter((c) => c.action !== 'no-op');
  if (hasChanges(plan) || changed.length || plan.changes.length !== n || plan.errors.length)
    throw new Error(
      `the no-op plan is not empty (${plan.changes.length} entries): ${JSON.stringify(changed.slice(0, 3))}`,
    );
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`.padStart(11);

async function main(): Promise<void> {
  const started = performance.now();
  await checkEquivalence();
  console.log('applyDirect == engine applyPlan on a 50-resource stack of the same shape: ok');
  console.log(
    `node ${process.version}, ${quick ? 'quick run' : 'full run'}, load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores\n`,
  );

  const medians = new Map<number, Sample>();
  for (const { n, runs, warmup } of SIZES) {
    const yaml = stackYaml(n);
    const stateJson = await appliedStateJson(yaml, n);
    const stateRead: number[] = [];
    const samples: Sample[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      // The state is read anew each run, as `stratus plan` reads its state file.
      const t = performance.now();
      const state = JSON.parse(stateJson) as StateDoc;
      const read = performance.now() - t;
      const sample = planOnce(yaml, state, n);
      if (i < warmup) continue;
      stateRead.push(read);
      samples.push(sample);
    }
    const med = {
      load: median(samples.map((s) => s.load)),
      check: median(samples.map((s) => s.check)),
      plan: median(samples.map((s) => s.plan)),
      total: median(samples.map((s) => s.total)),
      cpu: median(samples.map((s) => s.cpu)),
    };
    medians.set(n, med);
    const min = (k: keyof Sample) => Math.min(...samples.map((s) => s[k]));
    console.log(
      `${n.toLocaleString('en-US')} resources: YAML ${(yaml.length / 1024).toFixed(0)} KiB, ` +
        `${runs} runs after ${warmup} warm-up, every plan verified empty (${n} no-ops)`,
    );
    console.log(`  phase                    median         min`);
    for (const [label, k] of [
      ['load (YAML + schema)', 'load'],
      ['checkStack', 'check'],
      ['makePlan', 'plan'],
      ['total (load+check+plan)', 'total'],
      // On a busy machine wall time includes waiting for a core; CPU time does not.
      ['total CPU (user+sys)', 'cpu'],
    ] as const)
      console.log(`  ${label.padEnd(23)}${ms(med[k])} ${ms(min(k))}`);
    console.log(
      `  (not in total) state JSON.parse ${ms(median(stateRead)).trim()} median, ${(stateJson.length / 1024 / 1024).toFixed(1)} MiB`,
    );
    const destroys = [0, 1, 2].map(() => destroyPlanOnce(yaml, JSON.parse(stateJson) as StateDoc, n));
    console.log(
      `  (not in total) destroy plan (makePlan -destroy) ${ms(median(destroys)).trim()} median of 3\n`,
    );
  }

  const small = medians.get(1_000)!;
  const big = medians.get(10_000)!;
  const ratio = big.total / small.total;
  console.log(
    `10k/1k ratio of medians: load ${(big.load / small.load).toFixed(1)}, check ${(big.check / small.check).toFixed(1)}, ` +
      `plan ${(big.plan / small.plan).toFixed(1)}, total ${ratio.toFixed(1)}`,
  );
  const pass1 = big.total < TARGET_10K_MS;
  const pass2 = ratio <= TARGET_RATIO;
  console.log(
    `target: 10,000-resource no-op plan < ${TARGET_10K_MS} ms: ${big.total.toFixed(0)} ms ${pass1 ? 'PASS' : 'FAIL'}`,
  );
  console.log(`target: 10k/1k ratio <= ${TARGET_RATIO}: ${ratio.toFixed(1)} ${pass2 ? 'PASS' : 'FAIL'}`);
  console.log(
    `bench took ${((performance.now() - started) / 1000).toFixed(1)} s; load average at the end ${loadavg()[0]!.toFixed(1)}`,
  );
  if (!(pass1 && pass2)) process.exitCode = 1;
}

// Run when executed, not when imported (e.g. for `stackYaml` while profiling).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
