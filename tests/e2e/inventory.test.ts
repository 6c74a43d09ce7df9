/**
 * Inventory and operations (issue 9 Deliver 3, issue 7 finding 7) against a real agent: `stratus list`
 * marks an image a failed import left behind as held by no state, `stratus delete` removes it (and only
 * it); an import of what state has is refused before anything is copied, and the plan after an import
 * is empty; `stratus doctor` reports TCG and every prerequisite green here, and says what to do when
 * libvirtd cannot be reached (libvirtd-stopped.exclusive.test.ts really stops it); `stratus agent status|logs|stop`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, CLI, IMAGE, run, stateIds } from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

const records = (c: string): string[] => {
  const d = join(t.stateDir, 'records', c);
  return existsSync(d)
    ? readdirSync(d)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
    : [];
};
/** Images in the agent's cache (not temporaries, not the content-addressed `blobs` their data lives in). */
const cached = (): string[] =>
  readdirSync(join(t.stateDir, 'images')).filter((f) => !f.startsWith('.') && f !== 'blobs');

before(() => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('inventory');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'stratus.state.json');
  // No `name`: it defaults to the resource name, which the imported file does not have.
  writeFileSync(
    stack,
    `name: inventory\nresources:\n  img:\n    type: image\n    properties: { source: ${IMAGE} }\n` +
      `  img2:\n    type: image\n    properties: { source: ${IMAGE} }\n`,
  );
});

after(async () => {
  rmSync(`${state}.backup`, { recursive: true, force: true });
  await t.cleanup([state]);
});

test('an image a failed import left is listed as held by no state; delete removes it and refuses an owned one', async () => {
  const first = await t.stratus('import', stack, 'img', IMAGE);
  assert.equal(first.code, 0, first.stderr);
  const imgId = stateIds(state).find((r) => r.name === 'img')!.id;

  // Issue 7 finding 7: the plan after an import whose stack matches is empty (the name the stack
  // defaults to was set on the object as part of the import).
  const plan = await t.stratus('plan', '-detailed-exitcode', '-target=img', stack);
  assert.equal(plan.code, 0, `plan after import is not empty:\n${plan.stdout}${plan.stderr}`);

  // Refused before the agent copies anything.
  const before = cached();
  const again = await t.stratus('import', stack, 'img', IMAGE);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^error: img is already in state$/m);
  assert.deepEqual(cached(), before, 'a refused import copied nothing');

  // A failed operation: the agent imports img2, then the state cannot be written (its backup path is a
  // directory, as a full or broken disk would fail it): the image is on the host and in no state.
  mkdirSync(`${state}.backup`);
  const failed = await t.stratus('import', stack, 'img2', IMAGE);
  rmSync(`${state}.backup`, { recursive: true });
  assert.equal(failed.code, 1, failed.stdout);
  assert.equal(records('images').length, 2, 'the agent imported img2 before the state write failed');
  const orphanId = records('images').find((id) => id !== imgId)!;
  assert.deepEqual(
    stateIds(state).map((r) => r.name),
    ['img'],
  );

  const table = await t.stratus('list', 'images');
  assert.equal(table.code, 0, table.stderr);
  const row = (id: string) => table.stdout.split('\n').find((l) => l.includes(id)) ?? '';
  assert.match(row(imgId), /\| img +\| active +\| local +\| qcow2 +\|.*\| inventory: img +\|$/);
  assert.match(row(orphanId), /\| active +\| local +\| qcow2 +\|.*\| \(orphan\) +\|$/);
  assert.match(table.stderr, /1 orphan \(held by no state\)\. Remove with: stratus delete -orphans images/);

  const json = await t.stratus('list', '-orphans', '-json');
  assert.equal(json.code, 0, json.stderr);
  const orphans = JSON.parse(json.stdout) as {
    type: string;
    id: string;
    orphan: boolean;
    ownership: { why: string };
  }[];
  assert.deepEqual(
    orphans.map((o) => [o.type, o.id, o.orphan]),
    [['image', orphanId, true]],
  );
  assert.match(orphans[0]!.ownership.why, /^stack inventory: not in its state .*stratus\.state\.json$/);

  // An object a state holds is refused, and nothing is deleted.
  const owned = await t.stratus('delete', 'image', imgId, orphanId, '-auto-approve');
  assert.equal(owned.code, 1);
  assert.match(owned.stderr, new RegExp(`image ${imgId} is held by stack inventory as img`));
  assert.match(owned.stderr, /Nothing was deleted\./);
  assert.equal(records('images').length, 2);

  // Without a terminal it asks and cannot: nothing is deleted.
  const asked = await t.stratus('delete', '-orphans');
  assert.equal(asked.code, 1);
  assert.match(asked.stdout, new RegExp(`- image ${orphanId} \\(img2\\): stack inventory: not in its state`));
  assert.match(asked.stderr, /pass -auto-approve/);
  assert.equal(records('images').length, 2);

  const removed = await t.stratus('delete', '-orphans', '-auto-approve');
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, new RegExp(`Deleted image ${orphanId}\\.`));
  assert.deepEqual(records('images'), [imgId]);
  assert.deepEqual(cached(), [imgId], "the orphan's cached file is gone, the owned one stays");

  const none = await t.stratus('list', '-orphans');
  assert.equal(none.code, 0);
  assert.equal(none.stdout, 'No orphans: every object is held by a state.\n');
});

test('doctor: TCG here, every prerequisite green, exit 0', async () => {
  // The agent the test above started answers on its socket.
  const r = await t.stratus('doctor');
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  const checks = lines.filter((l) => l.startsWith('['));
  for (const name of [
    'libvirtd',
    'virtlogd',
    'hypervisor',
    'qemu-img',
    'dnsmasq',
    'openvswitch',
    'nftables',
    'guest image',
    'stratus-agent',
  ])
    assert.ok(
      checks.some((l) => l.startsWith(`[ok  ] ${name}: `)),
      `${name} is not ok:\n${r.stdout}`,
    );
  assert.deepEqual(
    checks.filter((l) => !l.startsWith('[ok  ]')),
    [],
    'every check is green',
  );
  // As the quickstart test: this machine kind has no usable KVM.
  assert.match(r.stdout, /^\[ok {2}\] hypervisor: TCG /m);
  assert.match(r.stdout, /^\[ok {2}\] openvswitch: .*datapath (netdev|system)/m);
  assert.equal(lines.at(-1), 'Every required prerequisite is met; guests run under TCG (no usable KVM).');

  const json = await t.stratus('doctor', '-json');
  assert.equal(json.code, 0);
  const doc = JSON.parse(json.stdout) as { ok: boolean; checks: { name: string; virtType?: string }[] };
  assert.equal(doc.ok, true);
  const status = JSON.parse((await t.stratus('agent', 'status', '-json')).stdout) as {
    host: { virtType: string };
  };
  assert.equal(
    doc.checks.find((c) => c.name === 'hypervisor')!.virtType,
    status.host.virtType,
    "doctor's verdict is the agent's",
  );
});

test('doctor: libvirtd unreachable is a failure that says what to do, exit 1', async () => {
  const r = await run(process.execPath, [CLI, 'doctor'], {
    ...t.env,
    STRATUS_LIBVIRT_URI: `qemu:///system?socket=${join(t.dir, 'no-libvirtd.sock')}`,
  });
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stdout, /^\[FAIL\] libvirtd: virsh failed \(exit 1\): /m);
  assert.match(
    r.stdout,
    /^ {7}To fix: start it: `libvirtd -d` \(with systemd: `systemctl start libvirtd`\)/m,
  );
  assert.match(
    r.stdout,
    /\n1 required prerequisite failed: libvirtd\. Fix it as said above, then run stratus doctor again\.\n$/,
  );
});

test('agent status, logs and stop', async () => {
  const status = await t.stratus('agent', 'status');
  assert.equal(status.code, 0, status.stdout);
  const pid = t.agentPid()!;
  assert.match(
    status.stdout,
    new RegExp(`^stratus-agent is running \\(pid ${pid}\\)\\.\\n  Socket: +${t.env.STRATUS_AGENT_SOCKET}\\n`),
  );
  assert.match(status.stdout, /^ {2}Guests: +TCG \(qemu\): /m);

  const logs = await t.stratus('agent', 'logs', '-tail=1');
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout.split('\n').length, 2, 'one line');
  assert.equal(typeof JSON.parse(logs.stdout).msg, 'string');

  const stop = await t.stratus('agent', 'stop');
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(
    stop.stdout,
    `Stopped stratus-agent (pid ${pid}). Servers keep running; the next command starts it again.\n`,
  );
  assert.throws(() => process.kill(pid, 0), 'the agent is gone');
  const after = await t.stratus('agent', 'status');
  assert.equal(after.code, 1);
  assert.match(after.stdout, /^stratus-agent is not running/);
});
