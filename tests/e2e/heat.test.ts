/**
 * examples/heat applied for real, the two scenarios booted at the same time (three small guests):
 * - quickstart.yaml: a Heat template boots a VM whose user data comes from an OS::Heat::SoftwareConfig
 *   with a -P parameter in it; the guest serves it over HTTP (checked from the network's DHCP
 *   namespace); the plan is then empty; outputs read as for a stack file; a parameter change plans the
 *   server's replacement; destroy leaves nothing.
 * - two-tier.yaml with its environment, unchanged (only -P values): the external network is a bridge
 *   and namespace this test makes (TEST-NET-2, 198.51.100.0/24). From that outside, the web tier answers
 *   through its floating IP, and reports what the database tier answered on its port (the db security
 *   group admits the web group only); the database's port through its own floating IP does not answer
 *   the outside. Then the plan is empty, `stratus output` gives the floating IP, parameter changes plan
 *   the right actions (one more worker: one to add; a new db password: the db replaced) and destroy
 *   leaves no domain, bridge, namespace or process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  httpGetInNetns,
  IMAGE,
  ROOT,
  run,
  stateIds,
  waitForReady,
} from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

before(() => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('heat');
  // The cleanup destroys `stack.yaml` of the env's directory: the template is copied there, its image
  // path made absolute.
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  const text = readFileSync(join(ROOT, 'examples/heat/quickstart.yaml'), 'utf8').replace(
    'default: ../../build/images/stratus-guest.qcow2',
    `default: ${IMAGE}`,
  );
  assert.ok(text.includes(IMAGE));
  writeFileSync(stack, text);
});

after(async () => {
  await t.cleanup([state]);
});

describe('heat examples', { concurrency: 2 }, () => {
  test('heat quickstart: apply, reach the guest, plan empty, outputs, a parameter change, destroy', async () => {
    const applied = await t.stratus(
      'apply',
      '-auto-approve',
      '-state',
      state,
      stack,
      '-P',
      'greeting=hi from -P',
    );
    assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
    assert.match(applied.stdout, /Apply complete! Resources: 6 added, 0 changed, 0 destroyed\./);
    const doc = JSON.parse(readFileSync(state, 'utf8'));
    const byName = (n: string) => doc.resources.find((r: { name: string }) => r.name === n);
    const web = byName('web');
    const net = byName('net');
    assert.equal(web.attributes.flavor, byName('tiny').id, 'flavor m1.tiny named the template flavor');

    const ready = await waitForReady(web.attributes.consoleLog);
    const ip = ready.ip!.split(',')[0]!;
    assert.equal(ip, web.attributes.accessIpV4);
    const hello = await httpGetInNetns(`qdhcp-${net.id}`, `http://${ip}/hello.txt`);
    assert.equal(hello.code, 0, hello.stderr);
    assert.equal(hello.stdout.trim(), 'hi from -P', 'the SoftwareConfig ran with the -P value');

    const noop = await t.stratus(
      'plan',
      '-detailed-exitcode',
      '-state',
      state,
      stack,
      '-P',
      'greeting=hi from -P',
    );
    assert.equal(noop.code, 0, `${noop.stdout}\n${noop.stderr}`);
    assert.match(noop.stdout, /No changes/);

    const out = await t.stratus('output', '-state', state, stack, 'web_url', '-raw');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `http://${ip}/hello.txt`);

    const changed = await t.stratus(
      'plan',
      '-detailed-exitcode',
      '-state',
      state,
      stack,
      '-P',
      'greeting=bye',
    );
    assert.equal(changed.code, 2, `${changed.stdout}\n${changed.stderr}`);
    assert.match(changed.stdout, /# server web must be replaced/);
    assert.match(changed.stdout, /Plan: 1 to add, 0 to change, 1 to destroy\./);

    const ids = stateIds(state).map((r) => r.id);
    const destroyed = await t.stratus('destroy', '-auto-approve', '-state', state, stack);
    assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
    assert.match(destroyed.stdout, /Resources: 0 added, 0 changed, 6 destroyed\./);
    assert.deepEqual(hostObjectsFor(ids), []);
  });

  test('heat two-tier: floating IP to web, web to db port only, plan empty, parameter changes, destroy', async () => {
    const two = agentEnv('heat-two-tier');
    const dir = two.dir;
    const tpl = join(dir, 'stack.yaml');
    const st = join(dir, 'state.json');
    const env = join(dir, 'env.yaml');
    for (const f of ['env.yaml', 'worker.yaml']) copyFileSync(join(ROOT, 'examples/heat', f), join(dir, f));
    const text = readFileSync(join(ROOT, 'examples/heat/two-tier.yaml'), 'utf8').replace(
      'default: ../../build/images/stratus-guest.qcow2',
      `default: ${IMAGE}`,
    );
    assert.ok(text.includes(IMAGE));
    writeFileSync(tpl, text);
    const outside = makeOutside();
    const params = [
      '-e',
      env,
      '-P',
      `public_bridge=${outside.bridge}`,
      '-P',
      'public_cidr=198.51.100.0/24',
      '-P',
      'worker_count=0',
    ];
    try {
      const applied = await two.stratus('apply', '-auto-approve', '-state', st, tpl, ...params);
      assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
      assert.match(applied.stdout, /Apply complete! Resources: \d+ added, 0 changed, 0 destroyed\./);
      type Res = { name: string; type: string; id: string; attributes: Record<string, unknown> };
      const resources = JSON.parse(readFileSync(st, 'utf8')).resources as Res[];
      const byName = (n: string) => resources.find((r) => r.name === n)!;
      assert.deepEqual(
        resources
          .filter((r) => r.type === 'server')
          .map((r) => r.name)
          .sort(),
        ['db', 'web'],
        'worker_count=0 from -P beats the environment',
      );
      const webFip = String(byName('web_floating_ip').attributes.floatingIpAddress);
      const dbFip = String(byName('db_floating_ip').attributes.floatingIpAddress);
      const dbIp = String(byName('db').attributes.accessIpV4);
      assert.match(webFip, /^198\.51\.100\.\d+$/);
      assert.match(dbFip, /^198\.51\.100\.\d+$/);
      assert.match(dbIp, /^10\.60\.0\.\d+$/);

      // Outside -> web through the floating IP (security group web: tcp/80 from anywhere).
      await until('web through its floating IP', async () =>
        (await getFromOutside(outside.ns, `http://${webFip}/`)) === 'web' ? true : undefined,
      );
      // web -> db:5432 (security group db admits members of web): the web tier's user data publishes the
      // database's answer, which it can only have had over that port.
      const backend = await until('the web tier reaching the db port', async () => {
        const b = await getFromOutside(outside.ns, `http://${webFip}/backend.txt`);
        return b?.startsWith('backend ') ? b : undefined;
      });
      assert.equal(backend, `backend ${dbIp}: db ready`);
      // Outside -> db: its floating IP maps to it, and its group admits nothing from outside.
      assert.equal(await getFromOutside(outside.ns, `http://${dbFip}:5432/status.txt`), null);
      assert.equal(await getFromOutside(outside.ns, `http://${dbFip}/`), null);

      /** `stratus plan -detailed-exitcode` of the stack with the test's parameters, then `extra`. */
      const plan = (...extra: string[]) =>
        two.stratus('plan', '-detailed-exitcode', '-state', st, tpl, ...params, ...extra);
      const noop = await plan();
      assert.equal(noop.code, 0, `${noop.stdout}\n${noop.stderr}`);
      assert.match(noop.stdout, /No changes/);
      const out = await two.stratus('output', '-state', st, tpl, 'web_floating_ip', '-raw');
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, webFip);

      const more = await plan('-P', 'worker_count=1');
      assert.equal(more.code, 2, `${more.stdout}\n${more.stderr}`);
      assert.match(more.stdout, /Plan: 1 to add, 0 to change, 0 to destroy\./);
      const pw = await plan('-P', 'db_password=another-secret');
      assert.equal(pw.code, 2, `${pw.stdout}\n${pw.stderr}`);
      assert.match(pw.stdout, /# server db must be replaced/);
      assert.doesNotMatch(
        pw.stdout + pw.stderr,
        /another-secret/,
        'a hidden parameter stays out of the plan',
      );

      const ids = stateIds(st).map((r) => r.id);
      const routerId = byName('router').id;
      const destroyed = await two.stratus('destroy', '-auto-approve', '-state', st, tpl, ...params);
      assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
      assert.match(destroyed.stdout, /Resources: 0 added, 0 changed, \d+ destroyed\./);
      assert.deepEqual(hostObjectsFor(ids), []);
      const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
      assert.ok(!netns.includes(`qrouter-${routerId}`), 'router namespace removed');
    } finally {
      // The env's cleanup destroys without the environment (which the template needs): destroy here
      // first, and let it sweep by the state's ids only if that failed.
      let left = existsSync(st) && stateIds(st).length > 0;
      if (left) {
        const routers = stateIds(st).filter((r) => r.type === 'router');
        const r = await two.stratus('destroy', '-auto-approve', '-state', st, tpl, ...params);
        if (r.code !== 0) process.stderr.write(`cleanup: destroy failed: ${r.stderr}\n`);
        else left = false;
        for (const x of routers) spawnSync('ip', ['netns', 'delete', `qrouter-${x.id}`]);
      }
      await two.cleanup(left ? [st] : []);
      outside.remove();
    }
  });
});

/** The outside of the two-tier stack: a Linux bridge (the provider network) and a namespace on it at .1. */
function makeOutside(): { bridge: string; ns: string; remove(): void } {
  const tag = randomBytes(3).toString('hex');
  const bridge = `bht${tag}`;
  const ns = `stratus-heat-out-${tag}`;
  const hostEnd = `vhh${tag}`;
  const nsEnd = `vho${tag}`;
  const remove = () => {
    spawnSync('ip', ['netns', 'delete', ns]);
    spawnSync('ip', ['link', 'delete', hostEnd]);
    spawnSync('ip', ['link', 'delete', bridge]);
  };
  const must = (args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };
  try {
    must(['link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0']);
    must(['link', 'set', bridge, 'up']);
    must(['netns', 'add', ns]);
    must(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd, 'netns', ns]);
    must(['link', 'set', hostEnd, 'master', bridge]);
    must(['link', 'set', hostEnd, 'up']);
    must(['-n', ns, 'link', 'set', 'lo', 'up']);
    must(['-n', ns, 'addr', 'add', '198.51.100.1/24', 'dev', nsEnd]);
    must(['-n', ns, 'link', 'set', nsEnd, 'up']);
  } catch (e) {
    remove();
    throw e;
  }
  return { bridge, ns, remove };
}

/** An HTTP GET from the outside namespace with a short limit: the body, or null when nothing answered. */
async function getFromOutside(ns: string, url: string): Promise<string | null> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(4000) }).then(async (r) => process.stdout.write(await r.text()), () => process.exit(3))`;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
  return r.code === 0 ? r.stdout.trim() : null;
}

/** Polls `check` every second until it returns a value; the limit only ends a hang. */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 900_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
