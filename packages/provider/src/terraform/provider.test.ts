import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Type } from '@sinclair/typebox';
import { defineResource, isUnknown, type ResourceSchema, registry } from '@stratus/model';
import { loadProtocol, serve } from './serve.js';
import { pluginCertificate } from './tls.js';
import { decodeDynamic, encodeDynamic } from './values.js';

const BIN = fileURLToPath(new URL('../../bin/terraform-provider-stratus', import.meta.url));
const COOKIE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';
const dir = mkdtempSync(join(tmpdir(), 'stratus-tfprovider-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (e: Error | null, r: unknown) => void,
) => void;
function call<T = Record<string, unknown>>(
  client: grpc.Client,
  method: string,
  req: unknown = {},
): Promise<T> {
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, Unary>)[method]!.call(
      client,
      req,
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (e, r) => (e ? reject(e) : resolve(r as T)),
    ),
  );
}

const proto = await loadProtocol();
const ProviderClient = (proto.tfplugin6 as grpc.GrpcObject).Provider as grpc.ServiceClientConstructor;
const ControllerClient = (proto.plugin as grpc.GrpcObject).GRPCController as grpc.ServiceClientConstructor;

interface SchemaAttr {
  name: string;
  type: Buffer;
  required: boolean;
  optional: boolean;
  computed: boolean;
  sensitive: boolean;
  description: string;
  nested_type: { attributes: SchemaAttr[] } | null;
}
type Schemas = { resource_schemas: Record<string, { block: { attributes: SchemaAttr[] } }> };

test('run by hand (no magic cookie): a clear message, exit 1, no handshake line', () => {
  const r = spawnSync(BIN, [], { encoding: 'utf8', env: { ...process.env, TF_PLUGIN_MAGIC_COOKIE: '' } });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /is a Terraform plugin: Terraform runs it/);
  assert.match(r.stderr, /dev_overrides/);
});

test('handshake: 1|6|unix|<socket>|grpc|<cert>, AutoMTLS requires the client certificate, Shutdown exits', async () => {
  const client = await pluginCertificate();
  const child = spawn(BIN, [], {
    env: {
      ...process.env,
      TF_PLUGIN_MAGIC_COOKIE: COOKIE,
      PLUGIN_CLIENT_CERT: client.certPem,
      PLUGIN_PROTOCOL_VERSIONS: '6',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`provider exited ${code}`)));
  });
  const m = /^1\|6\|unix\|(\/\S+)\|grpc\|([A-Za-z0-9+/]+)$/.exec(line);
  assert.ok(m, `handshake line: ${line}`);
  // The line carries base64 without padding (Go's RawStdEncoding); PEM wants it padded.
  const b64 = m[2]!.padEnd(Math.ceil(m[2]!.length / 4) * 4, '=');
  const serverPem = `-----BEGIN CERTIFICATE-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  const opts = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };

  const withCert = new ProviderClient(
    `unix:${m[1]}`,
    grpc.credentials.createSsl(
      Buffer.from(serverPem),
      Buffer.from(client.keyPem),
      Buffer.from(client.certPem),
    ),
    opts,
  );
  const schemas = await call<Schemas>(withCert, 'GetProviderSchema');
  const server = schemas.resource_schemas.stratus_server!.block.attributes;
  const attr = (n: string) => server.find((a) => a.name === n)!;
  // image or install_media: one of them is required, which the server's check says (not the schema).
  assert.deepEqual([attr('image').optional, attr('install_media').optional], [true, true]);
  assert.equal(attr('networks').required, true);
  assert.deepEqual(
    [attr('memory_mb').optional, attr('memory_mb').computed],
    [true, true],
    'defaulted: optional+computed',
  );
  assert.equal(attr('admin_pass').sensitive, true);
  // A generated private key is sensitive the same way: Terraform shows it only as (sensitive value).
  const keypair = schemas.resource_schemas.stratus_keypair!.block.attributes;
  assert.equal(keypair.find((a) => a.name === 'private_key')!.sensitive, true);
  assert.equal(attr('status').computed, true);
  assert.equal(attr('id').computed, true);
  assert.deepEqual(
    attr('networks').nested_type!.attributes.map((a) => a.name),
    ['network', 'subnet', 'fixed_ip', 'port'],
    'a list of objects is a nested attribute',
  );
  assert.match(attr('user_data').description, /User data/);
  withCert.close();

  // A client without Terraform's certificate is refused.
  const other = await pluginCertificate();
  const stranger = new ProviderClient(
    `unix:${m[1]}`,
    grpc.credentials.createSsl(Buffer.from(serverPem), Buffer.from(other.keyPem), Buffer.from(other.certPem)),
    opts,
  );
  await assert.rejects(call(stranger, 'GetProviderSchema'));
  stranger.close();

  const ctl = new ControllerClient(
    `unix:${m[1]}`,
    grpc.credentials.createSsl(
      Buffer.from(serverPem),
      Buffer.from(client.keyPem),
      Buffer.from(client.certPem),
    ),
    opts,
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await call(ctl, 'Shutdown');
  ctl.close();
  assert.equal(await exited, 0);
});

test('a type registered only in this test appears in GetProviderSchema and plans through the shared protocol', async () => {
  const widget = defineResource({
    type: 'widget',
    collection: 'widgets',
    description: 'A test-only type.',
    inputs: Type.Object(
      {
        sizeGb: Type.Integer({ minimum: 1, default: 10, requiresReplace: true, description: 'Size in GiB.' }),
        label: Type.Optional(Type.String({ updatableLive: true, description: 'A label.' })),
      },
      { additionalProperties: false },
    ),
    outputs: Type.Object({ serial: Type.String({ description: 'Serial number.' }) }),
  });
  // Registered for this test only (and removed again): the provider is made from the registry as it is.
  const types = registry as unknown as Record<string, ResourceSchema>;
  types.widget = widget;
  const socket = join(dir, 'extra.sock');
  const served = await serve({ socket, onShutdown: () => undefined });
  const client = new ProviderClient(`unix:${socket}`, grpc.credentials.createInsecure());
  try {
    const schemas = await call<Schemas>(client, 'GetProviderSchema');
    const attrs = schemas.resource_schemas.stratus_widget!.block.attributes;
    assert.deepEqual(
      attrs.map((a) => [a.name, JSON.parse(a.type.toString()), a.optional, a.computed]),
      [
        ['id', 'string', false, true],
        ['size_gb', 'number', true, true],
        ['label', 'string', true, false],
        ['serial', 'string', false, true],
      ],
    );
    const config = { id: null, size_gb: null, label: 'x', serial: null };
    const planned = await call<{ planned_state: { msgpack: Buffer }; diagnostics: unknown[] }>(
      client,
      'PlanResourceChange',
      {
        type_name: 'stratus_widget',
        prior_state: encodeDynamic(null),
        proposed_new_state: encodeDynamic(config),
        config: encodeDynamic(config),
      },
    );
    assert.deepEqual(planned.diagnostics, []);
    const v = decodeDynamic(planned.planned_state) as Record<string, unknown>;
    assert.equal(v.size_gb, 10, 'the default is planned');
    assert.equal(v.label, 'x');
    assert.ok(isUnknown(v.id) && isUnknown(v.serial), 'id and outputs unknown until apply');

    // A replacing change is reported as requires_replace at the attribute.
    const prior = { id: 'a', size_gb: 10, label: 'x', serial: 's1' };
    const bigger = { ...prior, size_gb: 20 };
    const replace = await call<{ requires_replace: { steps: { attribute_name: string }[] }[] }>(
      client,
      'PlanResourceChange',
      {
        type_name: 'stratus_widget',
        prior_state: encodeDynamic(prior),
        proposed_new_state: encodeDynamic(bigger),
        config: encodeDynamic({ ...bigger, id: null, serial: null }),
      },
    );
    assert.deepEqual(
      replace.requires_replace.map((p) => p.steps.map((s) => s.attribute_name)),
      [['size_gb']],
    );

    const invalid = { id: null, size_gb: 0, label: null, serial: null };
    const bad = await call<{
      diagnostics: {
        severity: string;
        summary: string;
        attribute: { steps: { attribute_name: string }[] };
      }[];
    }>(client, 'ValidateResourceConfig', { type_name: 'stratus_widget', config: encodeDynamic(invalid) });
    assert.equal(bad.diagnostics[0]!.severity, 'ERROR');
    assert.deepEqual(
      bad.diagnostics[0]!.attribute.steps.map((s) => s.attribute_name),
      ['size_gb'],
    );

    const move = await call<{ diagnostics: { summary: string }[] }>(client, 'MoveResourceState', {
      source_type_name: 'x',
      target_type_name: 'stratus_widget',
    });
    assert.match(move.diagnostics[0]!.summary, /not supported/);
  } finally {
    delete types.widget;
    client.close();
    await served.close();
  }
});
