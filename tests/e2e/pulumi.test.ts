import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import emptyPb from 'google-protobuf/google/protobuf/empty_pb.js';
import { SECRET_SIG, SIG_KEY, secret, UNKNOWN_VALUE } from '../../packages/provider/src/pulumi/values.js';
import {
  fakeEngine,
  mockId,
  providerPb as P,
  providerClient,
  type Registration,
  rpc,
  runWithMocks,
  struct,
} from '../support/pulumi.js';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  httpGetInNetns,
  IMAGE,
  imageCache,
  ROOT,
  run,
  waitForReady,
} from './helpers.js';

/**
 * pulumi-resource-stratus started the way the Pulumi engine starts a plugin (engine address as its
 * argument, the port on its first stdout line) and driven over gRPC with the stubs @pulumi/pulumi ships,
 * making the calls `pulumi up` of examples/pulumi makes, against a private agent: the VM boots for
 * real; a second run diffs nothing; a userData change diffs as a replacement, a name change updates in
 * place; an import reads a resource back; Delete leaves nothing. The resources are the ones
 * examples/pulumi registers (run under Pulumi's runtime with mocks): the stack is defined there only.
 */
const BIN = join(ROOT, 'packages/provider/bin/pulumi-resource-stratus');
const PROGRAM = join(ROOT, 'examples/pulumi/index.ts');
/** A sensitive value: it must reach the agent and never leave the provider in plain text. */
const SECRET = `hunter2-${Math.random().toString(36).slice(2)}`;
const urnOf = (type: string, name: string) => `urn:pulumi:dev::quickstart::${type}::${name}`;

let t: AgentEnv;
let engine: Awaited<ReturnType<typeof fakeEngine>>;
let plugin: ChildProcess;
let client: ReturnType<typeof providerClient>;
let stderr = '';
/** Every response's property bags, as JSON, for the secret checks. */
const responses: string[] = [];
/** What exists, for cleanup: urn -> {id, properties}. */
const live = new Map<string, { id: string; properties: Record<string, unknown> }>();

type StructLike = { toJavaScript(): Record<string, unknown> } | undefined;
const js = (s: StructLike) => {
  const v = s?.toJavaScript() ?? {};
  responses.push(JSON.stringify(v));
  return v;
};
const KIND = Object.fromEntries(Object.entries(P.PropertyDiff.Kind).map(([k, v]) => [v, k]));

async function check(urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
  const req = new P.CheckRequest();
  req.setUrn(urn);
  req.setOlds(struct(olds));
  req.setNews(struct(news));
  const res = await rpc(client.check, client, req);
  return {
    inputs: js(res.getInputs()),
    failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
  };
}

async function diff(id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
  const req = new P.DiffRequest();
  req.setId(id);
  req.setUrn(urn);
  req.setOlds(struct(olds));
  req.setNews(struct(news));
  const res = await rpc(client.diff, client, req);
  const detailed: Record<string, string> = {};
  res.getDetaileddiffMap().forEach((d, k) => {
    detailed[k] = KIND[d.getKind()]!;
  });
  return {
    changes: res.getChanges() === P.DiffResponse.DiffChanges.DIFF_SOME,
    none: res.getChanges() === P.DiffResponse.DiffChanges.DIFF_NONE,
    replaces: res.getReplacesList(),
    detailed,
    deleteBeforeReplace: res.getDeletebeforereplace(),
  };
}

async function create(urn: string, properties: Record<string, unknown>, preview: boolean) {
  const req = new P.CreateRequest();
  req.setUrn(urn);
  req.setProperties(struct(properties));
  req.setPreview(preview);
  req.setTimeout(900);
  const res = await rpc(client.create, client, req);
  const out = { id: res.getId(), properties: js(res.getProperties()) };
  if (!preview) live.set(urn, out);
  return out;
}

async function read(
  id: string,
  urn: string,
  properties: Record<string, unknown>,
  inputs: Record<string, unknown>,
) {
  const req = new P.ReadRequest();
  req.setId(id);
  req.setUrn(urn);
  req.setProperties(struct(properties));
  req.setInputs(struct(inputs));
  const res = await rpc(client.read, client, req);
  return { id: res.getId(), properties: js(res.getProperties()), inputs: js(res.getInputs()) };
}

async function update(
  id: string,
  urn: string,
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  preview: boolean,
) {
  const req = new P.UpdateRequest();
  req.setId(id);
  req.setUrn(urn);
  req.setOlds(struct(olds));
  req.setNews(struct(news));
  req.setPreview(preview);
  const res = await rpc(client.update, client, req);
  const properties = js(res.getProperties());
  if (!preview) live.set(urn, { id, properties });
  return properties;
}

async function del(id: string, urn: string, properties: Record<string, unknown>) {
  const req = new P.DeleteRequest();
  req.setId(id);
  req.setUrn(urn);
  req.setProperties(struct(properties));
  await rpc(client.delete, client, req);
  live.delete(urn);
}

/** A registration's inputs as the engine sends them: mock ids replaced (by `ids`, else unknown). */
function engineInputs(r: Registration, ids: Map<string, string>): Record<string, unknown> {
  const sub = (v: unknown): unknown => {
    if (typeof v === 'string' && v.endsWith('-mock-id')) return ids.get(v) ?? UNKNOWN_VALUE;
    if (Array.isArray(v)) return v.map(sub);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sub(x)]));
    return v;
  };
  const inputs = sub(r.inputs) as Record<string, unknown>;
  // The admin password, as a program gives it: a secret.
  if (r.type === 'stratus:index:Server') inputs.adminPass = secret(SECRET);
  return inputs;
}

/** Places in a property bag where `text` appears outside a secret. */
function plainOccurrences(v: unknown, text: string, at = ''): string[] {
  if (typeof v === 'string') return v.includes(text) ? [at] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => plainOccurrences(x, text, `${at}[${i}]`));
  if (v !== null && typeof v === 'object') {
    if ((v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG) return [];
    return Object.entries(v).flatMap(([k, x]) => plainOccurrences(x, text, at ? `${at}.${k}` : k));
  }
  return [];
}
const isSecret = (v: unknown) => (v as Record<string, unknown> | undefined)?.[SIG_KEY] === SECRET_SIG;
const virsh = (...args: string[]) => run('virsh', ['-c', 'qemu:///system', ...args]);

before(async () => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('pulumi');
  await t.startAgent();
  engine = await fakeEngine();
  // As the engine starts a plugin: flags, then its own address; the plugin prints its port.
  plugin = spawn(BIN, ['--logtostderr', '-v=9', engine.address], {
    env: { ...process.env, ...t.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  plugin.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const lines = createInterface({ input: plugin.stdout! });
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no port line from the plugin within 120s: ${stderr}`)),
      120_000,
    );
    lines.once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    plugin.once('exit', (code) =>
      reject(new Error(`the plugin exited (${code}) before printing its port: ${stderr}`)),
    );
  });
  assert.match(port, /^\d+$/, 'the first line is the port alone');
  client = providerClient(port);
});

after(async () => {
  // Whatever a failed step left: delete through the provider, newest first, then sweep the agent's records.
  for (const [urn, r] of [...live].reverse()) await del(r.id, urn, r.properties).catch(() => undefined);
  client?.close();
  if (plugin && plugin.exitCode === null) plugin.kill('SIGTERM');
  engine?.close();
  await t?.cleanup([]);
});

test('pulumi up of examples/pulumi over gRPC: boots the VM, no diff on a second run, replace vs in-place, drift repaired, import, secrets, delete leaves nothing', async () => {
  const info = await rpc(client.getPluginInfo, client, new emptyPb.Empty());
  assert.equal(info.getVersion(), '0.1.0');
  const schemaReq = new P.GetSchemaRequest();
  const schema = JSON.parse((await rpc(client.getSchema, client, schemaReq)).getSchema());
  assert.equal(schema.resources['stratus:index:Server'].inputProperties.adminPass.secret, true);
  assert.equal(schema.resources['stratus:index:Server'].inputProperties.userData.replaceOnChanges, true);
  assert.equal(schema.resources['stratus:index:Keypair'].properties.privateKey.secret, true);

  // The provider's configuration, as the engine sends it for `stratus:agentSocket`.
  const checkConfig = new P.CheckRequest();
  checkConfig.setUrn('urn:pulumi:dev::quickstart::pulumi:providers:stratus::default_0_1_0');
  checkConfig.setNews(struct({ agentSocket: t.env.STRATUS_AGENT_SOCKET }));
  assert.deepEqual((await rpc(client.checkConfig, client, checkConfig)).getFailuresList(), []);
  const configure = new P.ConfigureRequest();
  configure.getVariablesMap().set('stratus:agentSocket', t.env.STRATUS_AGENT_SOCKET!);
  configure.setArgs(struct({ agentSocket: t.env.STRATUS_AGENT_SOCKET }));
  configure.setAcceptsecrets(true);
  configure.setAcceptresources(true);
  configure.setUrn('urn:pulumi:dev::quickstart::pulumi:providers:stratus::default_0_1_0');
  const configured = await rpc(client.configure, client, configure);
  assert.equal(configured.getAcceptsecrets(), true);

  const { registrations } = await runWithMocks(PROGRAM);
  assert.deepEqual(registrations.map((r) => r.name).sort(), [
    'guest-image',
    'net',
    'subnet',
    'web',
    'web-sg',
  ]);

  // The preview: Check, then Create with preview (ids of what does not exist yet are unknown).
  for (const r of registrations) {
    const urn = urnOf(r.type, r.name);
    const checked = await check(urn, {}, engineInputs(r, new Map()));
    assert.deepEqual(checked.failures, [], `${r.name}: check`);
    const planned = await create(urn, checked.inputs, true);
    assert.equal(planned.id, '');
    if (r.name === 'web') {
      assert.equal(planned.properties.accessIpV4, UNKNOWN_VALUE, 'outputs unknown in the preview');
      assert.ok(isSecret(planned.properties.adminPass));
    }
  }

  // The update: Check and Create per resource, in the order the program registers them (dependencies first).
  const ids = new Map<string, string>();
  const state = new Map<
    string,
    { id: string; inputs: Record<string, unknown>; properties: Record<string, unknown> }
  >();
  for (const r of registrations) {
    const urn = urnOf(r.type, r.name);
    const checked = await check(urn, {}, engineInputs(r, ids));
    assert.deepEqual(checked.failures, [], `${r.name}: check`);
    if (r.name === 'web')
      assert.ok(isSecret(checked.inputs.adminPass), 'Check answers adminPass as a secret');
    const made = await create(urn, checked.inputs, false);
    assert.match(made.id, /^[0-9a-f-]{36}$/);
    ids.set(mockId(r.name), made.id);
    state.set(r.name, { id: made.id, inputs: checked.inputs, properties: made.properties });
  }
  const web = state.get('web')!;
  assert.ok(isSecret(web.properties.adminPass), 'Create answers adminPass as a secret');
  assert.equal(web.properties.name, 'web', 'the name defaults to the resource name');
  const net = state.get('net')!.id;
  const ready = await waitForReady(String(web.properties.consoleLog));
  assert.equal(ready.hostname, 'web', 'hostname from the config drive');
  const ip = String(web.properties.accessIpV4);
  assert.equal(ready.ip!.split(',')[0], ip);
  const got = await httpGetInNetns(`qdhcp-${net}`, `http://${ip}/`);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.trim(), 'web');
  const hello = await httpGetInNetns(`qdhcp-${net}`, `http://${ip}/hello.txt`);
  assert.equal(hello.stdout.trim(), 'hello from user data', 'the user data ran');

  // A second `pulumi up`: refresh (Read), Check, Diff: no changes anywhere.
  for (const r of registrations) {
    const urn = urnOf(r.type, r.name);
    const s = state.get(r.name)!;
    const refreshed = await read(s.id, urn, s.properties, s.inputs);
    assert.equal(refreshed.id, s.id, `${r.name} still exists`);
    const checked = await check(urn, refreshed.inputs, engineInputs(r, ids));
    const d = await diff(s.id, urn, refreshed.properties, checked.inputs);
    assert.ok(d.none, `${r.name}: no changes on a second run (${JSON.stringify(d.detailed)})`);
    state.set(r.name, { id: s.id, inputs: checked.inputs, properties: refreshed.properties });
  }

  const webReg = registrations.find((r) => r.name === 'web')!;
  const webUrn = urnOf(webReg.type, 'web');
  const webInputs = engineInputs(webReg, ids);

  // A userData change replaces the server (deleting the old one first).
  const changed = await check(webUrn, state.get('web')!.inputs, {
    ...webInputs,
    userData: '#!/bin/sh\necho changed > /www/hello.txt\n',
  });
  const replace = await diff(web.id, webUrn, state.get('web')!.properties, changed.inputs);
  assert.ok(replace.changes);
  assert.deepEqual(replace.replaces, ['userData']);
  assert.equal(replace.detailed.userData, 'UPDATE_REPLACE');
  assert.equal(replace.deleteBeforeReplace, true);

  // A name change updates in place: the same libvirt domain.
  const domain = `stratus-${web.id}`;
  const uuid = (await virsh('domuuid', domain)).stdout.trim();
  assert.ok(uuid.length > 0);
  const renamedInputs = (await check(webUrn, state.get('web')!.inputs, { ...webInputs, name: 'web-renamed' }))
    .inputs;
  const rename = await diff(web.id, webUrn, state.get('web')!.properties, renamedInputs);
  assert.ok(rename.changes);
  assert.deepEqual(rename.replaces, []);
  assert.deepEqual(rename.detailed, { name: 'UPDATE' });
  const previewed = await update(web.id, webUrn, state.get('web')!.properties, renamedInputs, true);
  assert.equal(previewed.name, 'web-renamed');
  const updated = await update(web.id, webUrn, state.get('web')!.properties, renamedInputs, false);
  assert.equal(updated.name, 'web-renamed');
  assert.ok(isSecret(updated.adminPass), 'Update answers adminPass as a secret');
  assert.equal((await virsh('domuuid', domain)).stdout.trim(), uuid, 'same domain: updated in place');
  const after = await read(web.id, webUrn, updated, renamedInputs);
  assert.ok((await diff(web.id, webUrn, after.properties, renamedInputs)).none, 'no diff after the update');
  assert.ok(isSecret(after.properties.adminPass), 'Read answers adminPass as a secret');
  state.set('web', { id: web.id, inputs: renamedInputs, properties: after.properties });

  // Drift made outside Stratus (the domain stopped with virsh): refresh and Diff show an update, which repairs it.
  const stopped = await virsh('destroy', domain);
  assert.equal(stopped.code, 0, stopped.stderr);
  const drifted = await read(web.id, webUrn, state.get('web')!.properties, renamedInputs);
  assert.equal(drifted.properties.status, 'SHUTOFF');
  const repair = await diff(web.id, webUrn, drifted.properties, renamedInputs);
  assert.ok(repair.changes, 'drift is a change');
  assert.deepEqual(repair.replaces, []);
  assert.deepEqual(repair.detailed, { status: 'UPDATE' });
  const repaired = await update(web.id, webUrn, drifted.properties, renamedInputs, false);
  assert.equal(repaired.status, 'ACTIVE');
  assert.equal((await virsh('domstate', domain)).stdout.trim(), 'running');
  assert.equal((await virsh('domuuid', domain)).stdout.trim(), uuid, 'repaired in place');
  state.set('web', { id: web.id, inputs: renamedInputs, properties: repaired });

  // Import (`pulumi import stratus:index:Network net <id>`): a Read with the id alone.
  const netUrn = urnOf('stratus:index:Network', 'net');
  const imported = await read(net, netUrn, {}, {});
  assert.equal(imported.id, net);
  assert.equal(imported.properties.name, 'net');
  assert.equal(imported.inputs.mtu, 1500, 'the inputs an import reads back');

  // A generated key pair: its private key is a secret in every answer.
  const kpUrn = urnOf('stratus:index:Keypair', 'deploy');
  const kpChecked = await check(kpUrn, {}, {});
  assert.deepEqual(kpChecked.failures, []);
  const kp = await create(kpUrn, kpChecked.inputs, false);
  assert.ok(isSecret(kp.properties.privateKey), 'Create answers the private key as a secret');
  const privateKey = String((kp.properties.privateKey as { value: string }).value);
  assert.match(privateKey, /PRIVATE KEY/);
  const kpRead = await read(kp.id, kpUrn, kp.properties, kpChecked.inputs);
  assert.ok(isSecret(kpRead.properties.privateKey), 'Read answers the private key as a secret');
  await del(kp.id, kpUrn, kpRead.properties);

  // `pulumi destroy`: Delete, dependents first; nothing is left on the host.
  for (const r of [...registrations].reverse()) {
    const s = state.get(r.name)!;
    await del(s.id, urnOf(r.type, r.name), s.properties);
  }
  const everything = [...state.values()].map((s) => s.id);
  assert.deepEqual(hostObjectsFor(everything), []);
  assert.equal(existsSync(join(t.stateDir, 'instances', web.id)), false, 'instance dir removed');
  assert.deepEqual(imageCache(t.stateDir), [], 'image cache emptied');
  for (const c of ['servers', 'subnets', 'networks', 'images', 'keypairs'])
    if (existsSync(join(t.stateDir, 'records', c)))
      assert.deepEqual(readdirSync(join(t.stateDir, 'records', c)), [], `no ${c} records left`);

  // Secrets: never in plain text in any answer, in the engine's log or on the plugin's stderr.
  for (const text of [SECRET, privateKey.split('\n')[1]!]) {
    for (const r of responses) assert.deepEqual(plainOccurrences(JSON.parse(r), text), [], 'only as secrets');
    assert.equal(engine.logs.filter((l) => l.includes(text)).length, 0, 'never in the engine log');
    assert.equal(stderr.includes(text), false, 'never on stderr');
  }
  assert.ok(engine.logs.length > 0, 'the provider logs to the engine');
});
