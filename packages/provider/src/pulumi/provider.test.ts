import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import providerRpc from '@pulumi/pulumi/proto/provider_grpc_pb.js';
import P from '@pulumi/pulumi/proto/provider_pb.js';
import { Type } from '@sinclair/typebox';
import { defineResource, isUnknown, type ResourceSchema, registry, UNKNOWN } from '@stratus/model';
import emptyPb from 'google-protobuf/google/protobuf/empty_pb.js';
import structPb from 'google-protobuf/google/protobuf/struct_pb.js';
import { generateNodejsSdk } from './codegen.js';
import { packageSchema, pascalCase } from './schema.js';
import { serve } from './serve.js';
import { fromPulumi, SECRET_SIG, SIG_KEY, secret, toPulumi, UNKNOWN_VALUE } from './values.js';

const BIN = fileURLToPath(new URL('../../bin/pulumi-resource-stratus', import.meta.url));
const cleanups: (() => void | Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const struct = (v: Record<string, unknown>) => structPb.Struct.fromJavaScript(v as never);
// biome-ignore lint/suspicious/noExplicitAny: any generated client method.
function rpc<R>(fn: (...a: any[]) => unknown, self: unknown, req: unknown): Promise<R> {
  return new Promise((resolve, reject) =>
    fn.call(self, req, (e: Error | null, r: R) => (e ? reject(e) : resolve(r))),
  );
}
type Client = InstanceType<typeof providerRpc.ResourceProviderClient>;

async function checkOf(c: Client, urn: string, news: Record<string, unknown>) {
  const req = new P.CheckRequest();
  req.setUrn(urn);
  req.setNews(struct(news));
  const res = await rpc<InstanceType<typeof P.CheckResponse>>(c.check, c, req);
  return {
    inputs: res.getInputs()?.toJavaScript() ?? {},
    failures: res.getFailuresList().map((f) => [f.getProperty(), f.getReason()] as const),
  };
}

test('values: secrets and unknowns in both directions; sensitive attributes always leave as secrets', () => {
  const server = registry.server as ResourceSchema;
  const got = fromPulumi({
    name: { [SIG_KEY]: SECRET_SIG, value: 'web' },
    image: UNKNOWN_VALUE,
    networks: [{ subnet: UNKNOWN_VALUE }],
    userData: null,
  });
  assert.deepEqual([...got.secrets], ['name']);
  assert.equal(got.values.name, 'web');
  assert.ok(isUnknown(got.values.image));
  assert.ok(isUnknown((got.values.networks as { subnet: unknown }[])[0]!.subnet));
  assert.equal('userData' in got.values, false, 'null is unset');
  const out = toPulumi(
    server,
    { adminPass: 'pw-12345678', accessIpV4: UNKNOWN, name: 'web' },
    new Set(['name']),
  );
  assert.deepEqual(out, { adminPass: secret('pw-12345678'), accessIpV4: UNKNOWN_VALUE, name: secret('web') });
});

test('the generated SDK has a class per registered type, secrets and replaceOnChanges from the schema', () => {
  const sdk = generateNodejsSdk(packageSchema());
  for (const t of Object.keys(registry))
    assert.match(sdk, new RegExp(`export class ${pascalCase(t)} extends pulumi.CustomResource`));
  assert.match(
    sdk,
    /inputs\["adminPass"\] = args\?\.adminPass === undefined \? undefined : pulumi\.secret\(args\.adminPass\);/,
  );
  assert.match(sdk, /additionalSecretOutputs: \["privateKey"\]/);
  assert.match(sdk, /declare readonly accessIpV4: pulumi\.Output<string>;/);
  assert.match(sdk, /networks: pulumi\.Input<pulumi\.Input<ServerNetworkArgs>\[\]>;/);
});

test('started as Pulumi starts a plugin: bad input is check failures with property paths, and the plugin keeps serving', async () => {
  const plugin = spawn(BIN, ['127.0.0.1:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  plugin.stderr.on('data', (d) => {
    stderr += String(d);
  });
  cleanups.push(() => {
    if (plugin.exitCode === null) plugin.kill('SIGKILL');
  });
  const port = await new Promise<string>((resolve, reject) => {
    createInterface({ input: plugin.stdout }).once('line', resolve);
    plugin.once('exit', (code) => reject(new Error(`plugin exited ${code}: ${stderr}`)));
  });
  assert.match(port, /^\d+$/);
  const c = new providerRpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => c.close());

  const server = 'urn:pulumi:dev::p::stratus:index:Server::web';
  const wrongType = await checkOf(c, server, {
    image: 'i',
    memoryMb: 'lots',
    networks: [{ subnet: 's', fixedIp: 'nope' }],
  });
  const props = wrongType.failures.map(([p]) => p);
  assert.ok(props.includes('memoryMb'), JSON.stringify(wrongType.failures));
  assert.ok(props.includes('networks[0].fixedIp'), JSON.stringify(wrongType.failures));
  const subnet = await checkOf(c, 'urn:pulumi:dev::p::stratus:index:Subnet::subnet', {
    network: 'n',
    cidr: '10.20.0.0/33',
  });
  assert.deepEqual(
    subnet.failures.map(([p]) => p),
    ['cidr'],
  );
  assert.match(subnet.failures[0]![1], /CIDR|cidr|prefix/i);
  const image = await checkOf(c, 'urn:pulumi:dev::p::stratus:index:Image::img', { source: 'relative.qcow2' });
  assert.deepEqual(
    image.failures.map(([p]) => p),
    ['source'],
  );
  const missing = await checkOf(c, server, {});
  assert.deepEqual(missing.failures.map(([p]) => p).sort(), ['image', 'networks']);
  // Not known yet during a preview: checked later, not a failure now.
  const pending = await checkOf(c, server, { image: UNKNOWN_VALUE, networks: [{ subnet: UNKNOWN_VALUE }] });
  assert.deepEqual(pending.failures, []);
  assert.equal(pending.inputs.image, UNKNOWN_VALUE);
  assert.equal(pending.inputs.name, 'web', 'the name defaults to the resource name');

  const badConfig = new P.CheckRequest();
  badConfig.setNews(struct({ agentUrl: 'ftp://x', token: 't', tokenFile: '/t' }));
  const cfg = await rpc<InstanceType<typeof P.CheckResponse>>(c.checkConfig, c, badConfig);
  assert.deepEqual(
    cfg
      .getFailuresList()
      .map((f) => f.getProperty())
      .sort(),
    ['agentUrl', 'token'],
  );

  const unknownType = new P.CheckRequest();
  unknownType.setUrn('urn:pulumi:dev::p::stratus:index:Nope::x');
  unknownType.setNews(struct({}));
  await assert.rejects(rpc(c.check, c, unknownType), /unknown resource type stratus:index:Nope/);

  const info = await rpc<{ getVersion(): string }>(c.getPluginInfo, c, new emptyPb.Empty());
  assert.equal(info.getVersion(), '0.1.0', 'still serving after bad input');
  assert.equal(plugin.exitCode, null);
  assert.doesNotMatch(stderr, /Error|at .*\.js:\d+/, 'no stack trace');
});

test('a type registered only in this test appears in GetSchema and checks, diffs and plans through the shared protocol', async () => {
  const widget = defineResource({
    type: 'widget',
    collection: 'widgets',
    description: 'A test-only type.',
    inputs: Type.Object(
      {
        sizeGb: Type.Integer({ minimum: 1, default: 10, requiresReplace: true, description: 'Size in GiB.' }),
        label: Type.Optional(Type.String({ updatableLive: true, description: 'A label.' })),
        secretWord: Type.Optional(Type.String({ sensitive: true, description: 'A secret.' })),
      },
      { additionalProperties: false },
    ),
    outputs: Type.Object({ serial: Type.String({ description: 'Serial number.' }) }),
  });
  // Registered for this test only (and removed again): the provider is made from the registry as it is.
  const types = registry as unknown as Record<string, ResourceSchema>;
  types.widget = widget;
  const served = await serve();
  const c = new providerRpc.ResourceProviderClient(
    `127.0.0.1:${served.port}`,
    grpc.credentials.createInsecure(),
  );
  try {
    const schema = JSON.parse(
      (await rpc<{ getSchema(): string }>(c.getSchema, c, new P.GetSchemaRequest())).getSchema(),
    );
    const w = schema.resources['stratus:index:Widget'];
    assert.deepEqual(w.inputProperties.sizeGb, {
      type: 'integer',
      description: 'Size in GiB.',
      replaceOnChanges: true,
      default: 10,
    });
    assert.equal(w.inputProperties.secretWord.secret, true);
    assert.deepEqual(w.properties.serial, { type: 'string', description: 'Serial number.' });
    assert.deepEqual(w.required.sort(), ['serial', 'sizeGb']);

    const urn = 'urn:pulumi:dev::p::stratus:index:Widget::w';
    const checked = await checkOf(c, urn, { label: 'x', secretWord: 'abracadabra' });
    assert.deepEqual(checked.failures, []);
    assert.equal(checked.inputs.sizeGb, 10, 'the default');
    assert.deepEqual(checked.inputs.secretWord, secret('abracadabra'));

    const preview = new P.CreateRequest();
    preview.setUrn(urn);
    preview.setProperties(struct(checked.inputs));
    preview.setPreview(true);
    const planned = (await rpc<InstanceType<typeof P.CreateResponse>>(c.create, c, preview))
      .getProperties()!
      .toJavaScript();
    assert.equal(planned.serial, UNKNOWN_VALUE, 'outputs unknown until created');
    assert.equal(planned.sizeGb, 10);

    const diff = new P.DiffRequest();
    diff.setId('a');
    diff.setUrn(urn);
    diff.setOlds(struct({ sizeGb: 10, label: 'x', serial: 's1' }));
    diff.setNews(struct({ sizeGb: 20, label: 'y' }));
    const d = await rpc<InstanceType<typeof P.DiffResponse>>(c.diff, c, diff);
    assert.equal(d.getChanges(), P.DiffResponse.DiffChanges.DIFF_SOME);
    assert.deepEqual(d.getReplacesList(), ['sizeGb']);
    const kinds: Record<string, number> = {};
    d.getDetaileddiffMap().forEach((v, k) => {
      kinds[k] = v.getKind();
    });
    assert.deepEqual(kinds, {
      sizeGb: P.PropertyDiff.Kind.UPDATE_REPLACE,
      label: P.PropertyDiff.Kind.UPDATE,
    });
  } finally {
    delete types.widget;
    c.close();
    await served.close();
  }
});

test('Create honours the operation timeout and Cancel: the agent request in flight is abandoned, the call fails', async () => {
  // An "agent" that takes requests and never answers them.
  const dir = mkdtempSync(join(tmpdir(), 'stratus-pulumi-hung-'));
  const socket = join(dir, 'agent.sock');
  writeFileSync(join(dir, 'token'), 'test-token\n', { mode: 0o600 });
  const seen: IncomingMessage[] = [];
  const hung = createServer((req) => {
    seen.push(req);
  });
  await new Promise<void>((r) => hung.listen(socket, r));
  const served = await serve();
  const c = new providerRpc.ResourceProviderClient(
    `127.0.0.1:${served.port}`,
    grpc.credentials.createInsecure(),
  );
  try {
    const configure = new P.ConfigureRequest();
    configure.setArgs(struct({ agentSocket: socket, tokenFile: join(dir, 'token') }));
    await rpc(c.configure, c, configure);
    const urn = 'urn:pulumi:dev::p::stratus:index:Network::net';
    const { inputs } = await checkOf(c, urn, {});
    const create = (timeoutSeconds: number) => {
      const req = new P.CreateRequest();
      req.setUrn(urn);
      req.setProperties(struct(inputs));
      req.setTimeout(timeoutSeconds);
      return rpc(c.create, c, req);
    };
    // customTimeouts.create of 1 s: the create fails with the timeout, naming it.
    await assert.rejects(create(1), /creating network failed: .*\(Stratus error code: timeout\)/);
    // Cancel (an interrupted `pulumi up`): the create in flight fails at once.
    // The failure is expected as soon as Cancel lands (before Cancel's own answer may arrive).
    const pending = assert.rejects(create(0), /creating network failed: .*\(Stratus error code: aborted\)/);
    const deadline = Date.now() + 60_000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, 2, 'the second create reached the agent');
    await rpc(c.cancel, c, new emptyPb.Empty());
    await pending;
  } finally {
    c.close();
    await served.close();
    hung.closeAllConnections();
    await new Promise((r) => hung.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
