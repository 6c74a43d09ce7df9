import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  httpGetInNetns,
  IMAGE,
  imageCache,
  ROOT,
  type Run,
  run,
  waitForReady,
} from './helpers.js';
import { HAVE_TERRAFORM, terraformEnv, terraformStateValues } from './terraform-helpers.js';

/**
 * The Terraform provider driven by the real terraform binary (1.11), through dev_overrides (no
 * `terraform init`), against a private agent: examples/terraform end to end, and bad configuration.
 */
if (!HAVE_TERRAFORM) console.log('SKIP terraform tests: the terraform binary is not on the PATH');

/** A sensitive value: it must reach the agent and never Terraform's output. */
const SECRET = `hunter2-${Math.random().toString(36).slice(2)}`;
const outputs: string[] = [];
let t: AgentEnv;
let env: NodeJS.ProcessEnv;
let work: string;
let bad: string;

function tf(dir: string, ...args: string[]): Promise<Run> {
  return run('terraform', [`-chdir=${dir}`, ...args, '-no-color'], env).then((r) => {
    outputs.push(r.stdout, r.stderr);
    return r;
  });
}

const stateValues = (dir: string) => terraformStateValues(dir, env);

/** Ids of the resources in a Terraform state, by resource address. */
async function stateIds(dir: string): Promise<Record<string, string>> {
  const v = await stateValues(dir);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x.id)]));
}

/** The names in a directory; none when it was never made. */
const listDir = (d: string) => (existsSync(d) ? readdirSync(d) : []);
const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);
const virsh = (...args: string[]) => run('virsh', ['-c', 'qemu:///system', ...args]);

before(async () => {
  if (!HAVE_TERRAFORM) return;
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('terraform');
  await t.startAgent();
  env = terraformEnv(t, { TF_VAR_image_path: IMAGE });
  work = join(t.dir, 'example');
  mkdirSync(work);
  const text = readFileSync(join(ROOT, 'examples/terraform/main.tf'), 'utf8').replace(
    '  memory_mb = 256\n',
    `  memory_mb = 256\n  admin_pass = "${SECRET}"\n`,
  );
  assert.ok(text.includes(SECRET));
  writeFileSync(join(work, 'main.tf'), text);
  bad = join(t.dir, 'bad');
  mkdirSync(bad);
});

after(async () => {
  if (!HAVE_TERRAFORM) return;
  // Whatever a failed step left: destroy through Terraform, then sweep what the agent recorded.
  if (existsSync(join(work, 'terraform.tfstate'))) await tf(work, 'destroy', '-auto-approve');
  await t.cleanup([]);
});

test('examples/terraform: plan, apply boots the VM, empty plan, replace vs in-place, drift, import, destroy leaves nothing', {
  skip: !HAVE_TERRAFORM,
}, async () => {
  const plan = await tf(work, 'plan');
  ok(plan, 'plan');
  assert.match(plan.stdout, /Plan: 5 to add, 0 to change, 0 to destroy\./);
  assert.match(plan.stdout, /\+ access_ip_v4 += \(known after apply\)/);
  assert.match(plan.stdout, /\+ id += {1,2}\(known after apply\)/);
  assert.match(plan.stdout, /\+ admin_pass += \(sensitive value\)/);
  assert.match(plan.stdout, /\+ mtu += 1500/, 'defaults are planned as known values');

  const applied = await tf(work, 'apply', '-auto-approve');
  ok(applied, 'apply');
  assert.match(applied.stdout, /Apply complete! Resources: 5 added, 0 changed, 0 destroyed\./);
  const ids = await stateIds(work);
  const web = ids['stratus_server.web']!;
  const net = ids['stratus_network.net']!;
  const out = JSON.parse(
    (await run('terraform', [`-chdir=${work}`, 'output', '-json'], env)).stdout,
  ) as Record<string, { value: string }>;
  const ready = await waitForReady(out.console_log!.value);
  assert.equal(ready.hostname, 'web', 'hostname from the config drive');
  const ip = out.web_ip!.value;
  assert.equal(ready.ip!.split(',')[0], ip);
  const got = await httpGetInNetns(`qdhcp-${net}`, `http://${ip}/`);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout.trim(), 'web');
  const hello = await httpGetInNetns(`qdhcp-${net}`, `http://${ip}/hello.txt`);
  assert.equal(hello.stdout.trim(), 'hello from user data', 'the user data ran');

  // Data sources: an image and a network found by name, and the host.
  const lookup = join(t.dir, 'lookup');
  mkdirSync(lookup);
  writeFileSync(
    join(lookup, 'main.tf'),
    [
      'terraform {',
      '  required_providers {',
      '    stratus = { source = "stratus/stratus" }',
      '  }',
      '}',
      'data "stratus_image" "guest" { name = "stratus-guest" }',
      'data "stratus_network" "net" { name = "quickstart" }',
      'data "stratus_host" "here" {}',
      'output "image" { value = data.stratus_image.guest.id }',
      'output "image_format" { value = data.stratus_image.guest.format }',
      'output "network" { value = data.stratus_network.net.id }',
      'output "hypervisor" { value = data.stratus_host.here.hypervisor_type }',
      'data "stratus_network" "missing" { name = "no-such-network" }',
      '',
    ].join('\n'),
  );
  const missing = await tf(lookup, 'apply', '-auto-approve');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No network named "no-such-network"/);
  writeFileSync(
    join(lookup, 'main.tf'),
    readFileSync(join(lookup, 'main.tf'), 'utf8').replace(/data "stratus_network" "missing".*\n/, ''),
  );
  ok(await tf(lookup, 'apply', '-auto-approve'), 'data sources');
  const found = JSON.parse(
    (await run('terraform', [`-chdir=${lookup}`, 'output', '-json'], env)).stdout,
  ) as Record<string, { value: string }>;
  assert.equal(found.image!.value, ids['stratus_image.guest_image']);
  assert.equal(found.image_format!.value, 'qcow2');
  assert.equal(found.network!.value, net);
  const hypervisor = (await stateValues(work))['stratus_server.web']!.hypervisor;
  assert.equal(found.hypervisor!.value, hypervisor, 'the host reports the domain type its servers get');

  const noop = await tf(work, 'plan', '-detailed-exitcode');
  assert.equal(noop.code, 0, `no perpetual diff:\n${noop.stdout}\n${noop.stderr}`);
  assert.match(noop.stdout, /No changes\./);

  const main = join(work, 'main.tf');
  const original = readFileSync(main, 'utf8');
  writeFileSync(main, original.replace('hello from user data', 'changed user data'));
  const replace = await tf(work, 'plan', '-detailed-exitcode');
  assert.equal(replace.code, 2, `${replace.stdout}\n${replace.stderr}`);
  assert.match(replace.stdout, /# stratus_server\.web must be replaced/);
  assert.match(replace.stdout, /~ user_data += <<-EOT # forces replacement/);
  assert.match(replace.stdout, /Plan: 1 to add, 0 to change, 1 to destroy\./);

  const domain = `stratus-${web}`;
  const uuid = (await virsh('domuuid', domain)).stdout.trim();
  assert.ok(uuid.length > 0);
  writeFileSync(main, original.replace('name      = "web"', 'name      = "web-renamed"'));
  const renamed = await tf(work, 'apply', '-auto-approve');
  ok(renamed, 'apply of a name change');
  assert.match(renamed.stdout, /~ name += "web" -> "web-renamed"/);
  assert.match(renamed.stdout, /Resources: 0 added, 1 changed, 0 destroyed\./);
  assert.equal((await virsh('domuuid', domain)).stdout.trim(), uuid, 'same domain: updated in place');
  assert.equal((await tf(work, 'plan', '-detailed-exitcode')).code, 0);

  // Drift made outside Stratus: the plan shows it, apply repairs it.
  ok(await virsh('destroy', domain), 'virsh destroy');
  const drift = await tf(work, 'plan', '-detailed-exitcode');
  assert.equal(drift.code, 2, `${drift.stdout}\n${drift.stderr}`);
  assert.match(drift.stdout, /# stratus_server\.web will be updated in-place/);
  assert.match(drift.stdout, /~ status += "SHUTOFF" -> \(known after apply\)/);
  assert.match(drift.stdout + drift.stderr, /was stopped outside Stratus/);
  const repaired = await tf(work, 'apply', '-auto-approve');
  ok(repaired, 'apply repairing drift');
  assert.equal((await virsh('domstate', domain)).stdout.trim(), 'running');
  assert.equal((await tf(work, 'plan', '-detailed-exitcode')).code, 0);

  // State lost: `terraform import` takes the server over by its id, and the plan is empty.
  ok(await tf(work, 'state', 'rm', 'stratus_server.web'), 'state rm');
  const imported = await tf(work, 'import', 'stratus_server.web', web);
  ok(imported, 'import');
  assert.match(imported.stdout, /Import successful!/);
  const afterImport = await tf(work, 'plan', '-detailed-exitcode');
  assert.equal(afterImport.code, 0, `empty plan after import:\n${afterImport.stdout}\n${afterImport.stderr}`);

  // An import block does the same for the network.
  ok(await tf(work, 'state', 'rm', 'stratus_network.net'), 'state rm network');
  writeFileSync(
    main,
    `${readFileSync(main, 'utf8')}\nimport {\n  to = stratus_network.net\n  id = "${net}"\n}\n`,
  );
  const blockImport = await tf(work, 'apply', '-auto-approve');
  ok(blockImport, 'apply with an import block');
  assert.match(blockImport.stdout, /1 imported/);

  const everything = Object.values(await stateIds(work));
  const destroyed = await tf(work, 'destroy', '-auto-approve');
  ok(destroyed, 'destroy');
  assert.match(destroyed.stdout, /Destroy complete! Resources: 5 destroyed\./);
  assert.deepEqual(hostObjectsFor(everything), []);
  assert.equal(existsSync(join(t.stateDir, 'instances', web)), false, 'instance dir removed');
  assert.deepEqual(imageCache(t.stateDir), [], 'image cache emptied');
  for (const c of ['servers', 'subnets', 'networks', 'images'])
    assert.deepEqual(readdirSync(join(t.stateDir, 'records', c)), [], `no ${c} records left`);

  assert.equal(
    outputs.filter((o) => o.includes(SECRET)).length,
    0,
    'Terraform never shows the admin password',
  );
});

test('a failed create (image file removed between plan and apply) leaves nothing behind; the next apply converges', {
  skip: !HAVE_TERRAFORM,
}, async () => {
  const dir = join(t.dir, 'failed');
  mkdirSync(dir);
  const image = join(dir, 'guest.qcow2');
  cpSync(IMAGE, image);
  writeFileSync(join(dir, 'main.tf'), readFileSync(join(ROOT, 'examples/terraform/main.tf')));
  try {
    ok(await tf(dir, 'plan', `-var=image_path=${image}`, '-out=tfplan'), 'plan -out');
    rmSync(image);
    const failed = await tf(dir, 'apply', 'tfplan');
    assert.equal(failed.code, 1, `${failed.stdout}\n${failed.stderr}`);
    assert.match(failed.stderr, /Error: .*\n(.*\n)*?Stratus error code: \w+/);
    const listed = (await run('terraform', [`-chdir=${dir}`, 'state', 'list'], env)).stdout;
    assert.doesNotMatch(listed, /stratus_image|stratus_server/, 'nothing recorded for what failed');
    for (const c of ['records/servers', 'records/images'])
      assert.deepEqual(listDir(join(t.stateDir, c)), [], `nothing left in ${c}`);
    assert.deepEqual(imageCache(t.stateDir), [], 'nothing left in the image cache');

    cpSync(IMAGE, image);
    ok(await tf(dir, 'apply', '-auto-approve', `-var=image_path=${image}`), 'the next apply');
    const settled = await tf(dir, 'plan', '-detailed-exitcode', `-var=image_path=${image}`);
    assert.equal(settled.code, 0, settled.stdout + settled.stderr);
  } finally {
    const ids = Object.values(await stateIds(dir));
    const destroyed = await tf(dir, 'destroy', '-auto-approve', `-var=image_path=${image}`);
    assert.equal(destroyed.code, 0, destroyed.stdout + destroyed.stderr);
    assert.deepEqual(hostObjectsFor(ids), []);
  }
});

test('bad configuration: an error at the attribute line for each problem, exit 1, nothing created', {
  skip: !HAVE_TERRAFORM,
}, async () => {
  writeFileSync(
    join(bad, 'main.tf'),
    [
      'terraform {',
      '  required_providers {',
      '    stratus = { source = "stratus/stratus" }',
      '  }',
      '}',
      'resource "stratus_network" "n" {}',
      'resource "stratus_subnet" "cidr" {',
      '  network = stratus_network.n.id',
      '  cidr    = "10.30.0.0/33"',
      '}',
      'resource "stratus_subnet" "pool" {',
      '  network = stratus_network.n.id',
      '  cidr    = "10.31.0.0/24"',
      '  allocation_pools = [{ start = "10.99.0.10", end = "10.31.0.20" }]',
      '}',
      'resource "stratus_network" "type" {',
      '  mtu = "big"',
      '}',
      'resource "stratus_network" "unknown" {',
      '  colour = "red"',
      '}',
      'resource "stratus_image" "relative" {',
      '  source = "images/guest.qcow2"',
      '}',
      '',
    ].join('\n'),
  );
  for (const cmd of [['plan'], ['apply', '-auto-approve']]) {
    const r = await tf(bad, ...cmd);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const e = r.stderr;
    assert.match(
      e,
      /Error: must be an IPv4 CIDR such as 10\.0\.0\.0\/24\n\n +with stratus_subnet\.cidr,\n +on main\.tf line 9,/,
    );
    assert.match(
      e,
      /Error: allocation_pools\[0\]\.start: 10\.99\.0\.10 is outside the subnet 10\.31\.0\.0\/24\n\n +with stratus_subnet\.pool,\n +on main\.tf line 14,/,
    );
    assert.match(e, /Error: Incorrect attribute value type\n\n +on main\.tf line 17,/);
    assert.match(e, /Error: Unsupported argument\n\n +on main\.tf line 20,/);
    assert.match(
      e,
      /Error: source must be an absolute path, e\.g\. abspath\(.*\n\n +with stratus_image\.relative,\n +on main\.tf line 23,/,
    );
    assert.doesNotMatch(e, /\n +at .*\.js:\d+/, 'no stack trace');
  }
  for (const c of ['servers', 'subnets', 'networks', 'images']) {
    const d = join(t.stateDir, 'records', c);
    assert.deepEqual(existsSync(d) ? readdirSync(d) : [], [], `no ${c} created`);
  }
});

test('provider configuration: an explicit socket with a wrong token is an error diagnostic carrying the agent code', {
  skip: !HAVE_TERRAFORM,
}, async () => {
  const dir = join(t.dir, 'config');
  mkdirSync(dir);
  const file = join(dir, 'main.tf');
  const body = (provider: string) =>
    [
      'terraform {',
      '  required_providers {',
      '    stratus = { source = "stratus/stratus" }',
      '  }',
      '}',
      provider,
      'data "stratus_host" "here" {}',
      'output "hostname" { value = data.stratus_host.here.hostname }',
      '',
    ].join('\n');
  const token = readFileSync(join(t.stateDir, 'token'), 'utf8').trim();
  writeFileSync(
    file,
    body(
      `provider "stratus" {\n  agent_socket = "${t.env.STRATUS_AGENT_SOCKET}"\n  token = "wrong-token"\n}`,
    ),
  );
  const refused = await tf(dir, 'apply', '-auto-approve');
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /Stratus error code: unauthorized/);
  assert.doesNotMatch(refused.stdout + refused.stderr, /wrong-token/, 'the token is never shown');

  writeFileSync(
    file,
    body(`provider "stratus" {\n  agent_socket = "${t.env.STRATUS_AGENT_SOCKET}"\n  token = "${token}"\n}`),
  );
  const okay = await tf(dir, 'apply', '-auto-approve');
  ok(okay, 'apply with the right token');
  assert.match(okay.stdout, /hostname = "\S+"/);
  assert.equal(outputs.filter((o) => o.includes(token)).length, 0, 'the token is never shown');
});
