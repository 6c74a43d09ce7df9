import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Plan } from '../engine/plan.js';
import { JsonUi } from './json-ui.js';

/** A JsonUi writing to an array, on a clock the test moves. */
function ui() {
  const lines: Record<string, unknown>[] = [];
  let now = 1_000_000;
  const u = new JsonUi(
    (l) => {
      assert.ok(l.endsWith('\n') && !l.slice(0, -1).includes('\n'), 'one object per line');
      lines.push(JSON.parse(l));
    },
    () => now,
  );
  return { u, lines, advance: (ms: number) => (now += ms) };
}

const plan = {
  changes: [
    { name: 'net', type: 'network', action: 'create', changes: [] },
    { name: 'web', type: 'server', action: 'replace', reason: 'replace-requested', changes: [] },
    { name: 'old', type: 'image', action: 'delete', changes: [] },
    { name: 'same', type: 'subnet', action: 'no-op', changes: [] },
  ],
} as unknown as Plan;

test('a plan: planned_change per change (no-ops left out), then change_summary', () => {
  const { u, lines } = ui();
  u.version('0.1.0');
  u.plan(plan, 'plan');
  assert.deepEqual(
    lines.map((l) => [l.type, l['@message']]),
    [
      ['version', 'Stratus 0.1.0'],
      ['planned_change', 'net: Plan to create'],
      ['planned_change', 'web: Plan to replace'],
      ['planned_change', 'old: Plan to delete'],
      ['change_summary', 'Plan: 2 to add, 0 to change, 2 to destroy.'],
    ],
  );
  assert.deepEqual(lines[2]!.change, {
    resource: {
      addr: 'web',
      module: '',
      resource: 'web',
      implied_provider: 'stratus',
      resource_type: 'server',
      resource_name: 'web',
      resource_key: null,
    },
    action: 'replace',
    reason: 'replace-requested',
  });
  assert.deepEqual(lines[4]!.changes, { add: 2, change: 0, import: 0, remove: 2, operation: 'plan' });
});

test('an apply: apply_start, apply_progress every 10s (with the latest progress), apply_complete, apply_errored, outputs without secrets', () => {
  const { u, lines, advance } = ui();
  u.plan(plan, 'apply');
  lines.length = 0;
  u.event({ kind: 'start', name: 'net', op: 'apply', action: 'create' });
  u.event({ kind: 'start', name: 'old', op: 'destroy', action: 'delete' });
  advance(9_000);
  u.tick();
  u.event({ kind: 'progress', name: 'net', op: 'apply', action: 'create', detail: 'downloaded 3.0 MiB' });
  advance(2_000);
  u.tick();
  u.tick();
  u.event({ kind: 'done', name: 'net', op: 'apply', action: 'create', elapsedMs: 11_000, id: 'n-1' });
  u.event({ kind: 'failed', name: 'old', op: 'destroy', action: 'delete', elapsedMs: 11_000, error: 'boom' });
  u.event({ kind: 'skipped', name: 'web', op: 'apply', reason: 'dependency failed' });
  u.outputs({ ip: { value: '10.0.0.2', sensitive: false }, pass: { value: 'hunter2', sensitive: true } });
  u.stop();
  assert.deepEqual(
    lines.map((l) => [l.type, l['@level'], l['@message']]),
    [
      ['apply_start', 'info', 'net: Creating...'],
      ['apply_start', 'info', 'old: Destroying...'],
      ['apply_progress', 'info', 'net: Still creating... [10s elapsed] (downloaded 3.0 MiB)'],
      ['apply_progress', 'info', 'old: Still destroying... [10s elapsed]'],
      ['apply_complete', 'info', 'net: Creation complete after 11.0s [id=n-1]'],
      ['apply_errored', 'error', 'old: Destruction FAILED after 11.0s: boom'],
      ['log', 'warn', 'web: skipped (dependency failed)'],
      ['outputs', 'info', 'Outputs: 2'],
    ],
  );
  assert.deepEqual(lines[4]!.hook, {
    resource: lines[0]!.hook && (lines[0]!.hook as { resource: unknown }).resource,
    action: 'create',
    id_key: 'id',
    id_value: 'n-1',
    elapsed_seconds: 11,
  });
  assert.equal((lines[1]!.hook as { action: string }).action, 'delete');
  assert.deepEqual(lines[7]!.outputs, {
    ip: { sensitive: false, value: '10.0.0.2', type: 'string' },
    pass: { sensitive: true },
  });
  assert.ok(!lines.some((l) => JSON.stringify(l).includes('hunter2')), 'no sensitive value');
});

test('diagnostics carry their field and source range', () => {
  const { u, lines } = ui();
  u.diagnostic({
    severity: 'error',
    message: 'must be an IPv4 CIDR',
    field: 'resources.sub.properties.cidr',
    range: { file: '/s/stack.yaml', line: 12, column: 7 },
  });
  assert.equal(lines[0]!['@message'], 'Error: resources.sub.properties.cidr: must be an IPv4 CIDR');
  assert.deepEqual(lines[0]!.diagnostic, {
    severity: 'error',
    summary: 'resources.sub.properties.cidr: must be an IPv4 CIDR',
    detail: '',
    address: 'resources.sub.properties.cidr',
    range: { filename: '/s/stack.yaml', start: { line: 12, column: 7 }, end: { line: 12, column: 7 } },
  });
});
