import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AgentClient } from '@stratus/sdk/client';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  IMAGE,
  ROOT,
  type Run,
  run,
  waitForReady,
} from './helpers.js';
import { HAVE_TERRAFORM, terraformEnv, terraformStateValues } from './terraform-helpers.js';

/**
 * examples/cdktf with the real terraform binary (1.11, dev_overrides, no `terraform init`) against a
 * private agent: `app.synth()` writes cdk.tf.json, terraform applies it, plans nothing more, destroys
 * it. In between, on the network and image that stack made, domains defined and started with virsh are
 * adopted with `terraform import` (by name) and an `import {}` block (by UUID), each planning nothing
 * after. Sharing the one stack keeps this to one booted guest at a time beside the adopted domain.
 */
if (!HAVE_TERRAFORM) console.log('SKIP cdktf tests: the terraform binary is not on the PATH');

let t: AgentEnv;
let env: NodeJS.ProcessEnv;
let stackDir: string;
let adoptDir: string;
/** Domains this file defines with virsh (by UUID): removed in `after` whatever happened. */
const foreign: string[] = [];

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);
const virsh = (...args: string[]) => run('virsh', ['-c', 'qemu:///system', ...args]);
const tf = (dir: string, ...args: string[]) => run('terraform', [`-chdir=${dir}`, ...args, '-no-color'], env);

const stateValues = (dir: string) => terraformStateValues(dir, env);

before(async () => {
  if (!HAVE_TERRAFORM) return;
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('cdktf');
  await t.startAgent();
  env = terraformEnv(t);
  stackDir = join(t.dir, 'out/stacks/quickstart');
  adoptDir = join(t.dir, 'adopt');
  mkdirSync(adoptDir);
});

after(async () => {
  if (!HAVE_TERRAFORM) return;
  for (const dir of [adoptDir, stackDir])
    if (existsSync(join(dir, 'terraform.tfstate'))) await tf(dir, 'destroy', '-auto-approve');
  for (const uuid of foreign) {
    await virsh('destroy', uuid);
    await virsh('undefine', uuid);
  }
  await t.cleanup([]);
});

test('examples/cdktf: synth writes cdk.tf.json; terraform apply boots the VM; the next plan is empty', {
  skip: !HAVE_TERRAFORM,
}, async () => {
  const synth = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/cdktf/main.ts')], {
    CDKTF_OUTDIR: join(t.dir, 'out'),
  });
  ok(synth, 'synth');
  const doc = JSON.parse(readFileSync(join(stackDir, 'cdk.tf.json'), 'utf8')) as {
    resource: Record<string, Record<string, Record<string, unknown>>>;
    terraform: Record<string, unknown>;
  };
  assert.deepEqual(Object.keys(doc.resource).sort(), [
    'stratus_image',
    'stratus_network',
    'stratus_security_group',
    'stratus_server',
    'stratus_subnet',
  ]);
  assert.equal(doc.resource.stratus_server!.web!.memory_mb, 256, 'props are written in snake_case');
  assert.equal(doc.terraform.backend, undefined, 'no backend block: it would need terraform init');

  const plan = await tf(stackDir, 'plan');
  ok(plan, 'plan');
  assert.match(plan.stdout, /Plan: 5 to add, 0 to change, 0 to destroy\./);
  const applied = await tf(stackDir, 'apply', '-auto-approve');
  ok(applied, 'apply');
  assert.match(applied.stdout, /Apply complete! Resources: 5 added, 0 changed, 0 destroyed\./);
  const out = JSON.parse(
    (await run('terraform', [`-chdir=${stackDir}`, 'output', '-json'], env)).stdout,
  ) as Record<string, { value: string }>;
  const ready = await waitForReady(out.console_log!.value);
  assert.equal(ready.ip!.split(',')[0], out.web_ip!.value, 'the output token resolved to the address');

  const noop = await tf(stackDir, 'plan', '-detailed-exitcode');
  assert.equal(noop.code, 0, `no changes after apply:\n${noop.stdout}\n${noop.stderr}`);
  assert.match(noop.stdout, /No changes\./);
});

test('a domain defined and started with virsh is adopted by terraform import (name) and an import block (UUID); the plan is then empty', {
  skip: !HAVE_TERRAFORM,
}, async () => {
  const values = await stateValues(stackDir);
  const imageId = String(values['stratus_image.guest_image']?.id);
  const networkId = String(values['stratus_network.net']?.id);
  assert.ok(imageId !== 'undefined' && networkId !== 'undefined', 'the cdktf stack is applied');
  const client = new AgentClient({
    socket: t.env.STRATUS_AGENT_SOCKET!,
    tokenFile: join(t.stateDir, 'token'),
  });
  const { virtType } = await client.get<{ virtType: string }>('/v1/host');
  await client.close();
  const bridge = String(values['stratus_network.net']?.bridge);
  assert.match(bridge, /^brq/, 'the network reports its bridge');

  /** Defines and starts a domain on an overlay of the stack's image, with one NIC on its network. */
  async function defineDomain(name: string): Promise<string> {
    const uuid = randomUUID();
    foreign.push(uuid);
    const disk = join(t.dir, `${name}.qcow2`);
    ok(
      await run('qemu-img', [
        'create',
        '-f',
        'qcow2',
        '-F',
        'qcow2',
        '-b',
        join(t.stateDir, 'images', imageId),
        disk,
      ]),
      'qemu-img create',
    );
    const xml = join(t.dir, `${name}.xml`);
    writeFileSync(
      xml,
      `<domain type='${virtType}'><name>${name}</name><uuid>${uuid}</uuid><memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
    <interface type='bridge'><source bridge='${bridge}'/><model type='virtio'/></interface>
    <serial type='pty'/><console type='pty'/>
  </devices></domain>`,
    );
    ok(await virsh('define', xml), 'virsh define');
    ok(await virsh('start', name), 'virsh start');
    return uuid;
  }

  /** The configuration that describes such a domain: what the user writes to adopt it. */
  const config = (name: string, extra = '') =>
    [
      'terraform {',
      '  required_providers {',
      '    stratus = { source = "stratus/stratus" }',
      '  }',
      '}',
      'resource "stratus_server" "legacy" {',
      `  name      = "${name}"`,
      `  image     = "${imageId}"`,
      '  memory_mb = 192',
      `  networks  = [{ network = "${networkId}" }]`,
      '}',
      extra,
    ].join('\n');

  // By name, with `terraform import`.
  const first = `legacy-${randomUUID().slice(0, 8)}`;
  const firstUuid = await defineDomain(first);
  writeFileSync(join(adoptDir, 'main.tf'), config(first));
  const imported = await tf(adoptDir, 'import', 'stratus_server.legacy', first);
  ok(imported, 'terraform import');
  assert.match(imported.stdout, /Import successful!/);
  const adopted = (await stateValues(adoptDir))['stratus_server.legacy']!;
  assert.equal(adopted.id, firstUuid, 'the server keeps the domain UUID as its id');
  assert.equal(adopted.memory_mb, 192);
  assert.equal(adopted.vcpus, 1);
  const afterImport = await tf(adoptDir, 'plan', '-detailed-exitcode');
  assert.equal(afterImport.code, 0, `empty plan after import:\n${afterImport.stdout}\n${afterImport.stderr}`);
  // Adopted means managed: destroy removes the domain.
  ok(await tf(adoptDir, 'destroy', '-auto-approve'), 'destroy of the adopted server');
  assert.equal((await virsh('domstate', firstUuid)).code, 1, 'the adopted domain is gone');

  // By UUID, with an import block: the plan imports and changes nothing. User data is something a
  // domain made elsewhere never had and the import cannot read: set in the configuration, it is a
  // real difference (the guest never ran it), shown as such; `ignore_changes` adopts the domain as is.
  const second = `legacy-${randomUUID().slice(0, 8)}`;
  const secondUuid = await defineDomain(second);
  const importBlock = `import {\n  to = stratus_server.legacy\n  id = "${secondUuid}"\n}\n`;
  const withUserData = (lifecycle: string) =>
    config(second, importBlock).replace(
      '  memory_mb = 192\n',
      `  memory_mb = 192\n  user_data = "#!/bin/sh\\ntrue\\n"\n${lifecycle}`,
    );
  writeFileSync(join(adoptDir, 'main.tf'), withUserData(''));
  const differs = await tf(adoptDir, 'plan', '-detailed-exitcode');
  assert.equal(differs.code, 2, `${differs.stdout}\n${differs.stderr}`);
  assert.match(
    differs.stdout,
    /\+ user_data += <<-EOT # forces replacement|\+ user_data += ".*" # forces replacement/,
  );
  writeFileSync(
    join(adoptDir, 'main.tf'),
    withUserData('  lifecycle {\n    ignore_changes = [user_data]\n  }\n'),
  );
  const planned = await tf(adoptDir, 'plan', '-detailed-exitcode');
  assert.equal(planned.code, 2, `${planned.stdout}\n${planned.stderr}`);
  assert.match(planned.stdout, /Plan: 1 to import, 0 to add, 0 to change, 0 to destroy\./);
  const applied = await tf(adoptDir, 'apply', '-auto-approve');
  ok(applied, 'apply with an import block');
  assert.match(applied.stdout, /Apply complete! Resources: 1 imported, 0 added, 0 changed, 0 destroyed\./);
  const settled = await tf(adoptDir, 'plan', '-detailed-exitcode');
  assert.equal(settled.code, 0, `empty plan after the import block:\n${settled.stdout}\n${settled.stderr}`);
  ok(await tf(adoptDir, 'destroy', '-auto-approve'), 'destroy of the second adopted server');
  assert.equal((await virsh('domstate', secondUuid)).code, 1, 'the second adopted domain is gone');
});

test('examples/cdktf: terraform destroy leaves no domain, bridge, namespace, dnsmasq or record', {
  skip: !HAVE_TERRAFORM,
}, async () => {
  const ids = Object.values(await stateValues(stackDir)).map((v) => String(v.id));
  assert.equal(ids.length, 5);
  const destroyed = await tf(stackDir, 'destroy', '-auto-approve');
  ok(destroyed, 'destroy');
  assert.match(destroyed.stdout, /Destroy complete! Resources: 5 destroyed\./);
  assert.deepEqual(hostObjectsFor(ids), []);
  for (const c of ['servers', 'subnets', 'networks', 'images']) {
    const d = join(t.stateDir, 'records', c);
    assert.deepEqual(existsSync(d) ? readdirSync(d) : [], [], `no ${c} records left`);
  }
});
