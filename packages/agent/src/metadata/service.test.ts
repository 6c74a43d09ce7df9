/**
 * The metadata service on real namespaces this test makes (no VM): a socket bound inside a namespace by
 * the helper and served by this process, instances told apart by source address, a replaced namespace
 * served anew, and nothing left holding a namespace after delete; the password path (Nova's rules: one
 * POST, then 409; GET answers it to its own instance only). Traffic stays inside the namespaces.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { metaDataJson, networkDataJson } from '../configdrive/index.js';
import { run } from '../host/exec.js';
import { listenInNamespace, netnsInode } from './netns-socket.js';
import { InstanceDirPasswords } from './password.js';
import { type MetadataOwner, MetadataService } from './service.js';

const NS = `stratus-mdsvc-${process.pid}`;

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
}

/** A namespace with lo up holding the metadata address and two "guest" addresses. */
function makeNamespace(): void {
  ip(['netns', 'add', NS]);
  ip(['-n', NS, 'link', 'set', 'lo', 'up']);
  for (const a of ['169.254.169.254/32', '10.66.0.5/32', '10.66.0.6/32', '10.66.0.7/32'])
    ip(['-n', NS, 'addr', 'add', a, 'dev', 'lo']);
}

/** GET `path` of the metadata address from inside NS, sent from `source`. */
async function get(source: string, path: string): Promise<{ status: number; body: string }> {
  const script = `require('node:http').get({ host: '169.254.169.254', port: 80, path: ${JSON.stringify(path)}, localAddress: ${JSON.stringify(source)}, headers: { 'X-Instance-ID': 'other' } }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: b }))); })`;
  const r = await run('ip', ['netns', 'exec', NS, process.execPath, '-e', script]);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

/** `method` `path` of the metadata address from inside NS, sent from `source`, with `body`. */
async function request(
  source: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  const script = `const q = require('node:http').request({ host: '169.254.169.254', port: 80, method: ${JSON.stringify(method)}, path: ${JSON.stringify(path)}, localAddress: ${JSON.stringify(source)} }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: b }))); }); q.end(${JSON.stringify(body ?? '')});`;
  const r = await run('ip', ['netns', 'exec', NS, process.execPath, '-e', script]);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

const FIVE = '0f6e1f5e-6a5c-4e2c-9d7b-6d9f1c2b3a41';
const SEVEN = '7a7a7a7a-6a5c-4e2c-9d7b-6d9f1c2b3a47';
const instances = mkdtempSync(join(tmpdir(), 'stratus-mdsvc-'));
for (const id of [FIVE, SEVEN]) mkdirSync(join(instances, id));

const docs = (uuid: string, hostname: string) => ({
  metaData: metaDataJson({ uuid, name: hostname, hostname, publicKeys: {} }),
  networkData: networkDataJson([]),
  userData: `user data of ${hostname}`,
});

const asked: { owner: MetadataOwner; ip: string }[] = [];
const service = new MetadataService(
  async (owner, sourceIp) => {
    asked.push({ owner, ip: sourceIp });
    if (!('network' in owner) || owner.network !== 'net-1') return null;
    if (sourceIp === '10.66.0.5') return docs(FIVE, 'five');
    if (sourceIp === '10.66.0.7') return docs(SEVEN, 'seven');
    return null;
  },
  new InstanceDirPasswords((id) => join(instances, id)),
);
const scope = { key: 'network:net-1', namespace: NS, owner: { network: 'net-1' } };

before(() => {
  spawnSync('ip', ['netns', 'del', NS]);
  makeNamespace();
});
after(async () => {
  await service.stop();
  spawnSync('ip', ['netns', 'del', NS]);
  rmSync(instances, { recursive: true, force: true });
});

test('the socket lives in the namespace; each source address gets its own documents or 404, whatever it claims', async () => {
  await service.ensure(scope);
  await service.ensure(scope);
  assert.deepEqual(service.scopes(), ['network:net-1']);
  const five = await get('10.66.0.5', '/openstack/latest/meta_data.json');
  assert.equal(five.status, 200);
  assert.equal(JSON.parse(five.body).hostname, 'five');
  assert.deepEqual(await get('10.66.0.5', '/latest/meta-data/hostname'), { status: 200, body: 'five' });
  assert.deepEqual(await get('10.66.0.5', '/openstack/latest/user_data'), {
    status: 200,
    body: 'user data of five',
  });
  assert.equal((await get('10.66.0.6', '/openstack/latest/meta_data.json')).status, 404);
  assert.equal((await get('10.66.0.6', '/latest/meta-data/hostname')).status, 404);
  assert.deepEqual(
    asked.map((a) => a.ip),
    ['10.66.0.5', '10.66.0.5', '10.66.0.5', '10.66.0.6', '10.66.0.6'],
  );
  assert.ok(asked.every((a) => 'network' in a.owner && a.owner.network === 'net-1'));
});

test("password: one POST per instance (then 409), GET answers it to that instance only, Nova's size limit", async () => {
  const path = '/openstack/2013-04-04/password';
  // Nothing posted: 200 and empty (cloudbase-init's is_password_set reads that as "not set").
  assert.deepEqual(await request('10.66.0.5', 'GET', path), { status: 200, body: '' });
  const cipher = Buffer.alloc(256, 7).toString('base64');
  assert.equal((await request('10.66.0.5', 'POST', path, cipher)).status, 200);
  assert.deepEqual(await request('10.66.0.5', 'GET', path), { status: 200, body: cipher });
  assert.deepEqual(await request('10.66.0.5', 'GET', '/openstack/latest/password'), {
    status: 200,
    body: cipher,
  });
  // A second post, by any version's path, is refused and changes nothing.
  for (const p of [path, '/openstack/latest/password'])
    assert.equal((await request('10.66.0.5', 'POST', p, 'other')).status, 409);
  assert.equal(readFileSync(join(instances, FIVE, 'password'), 'utf8'), cipher);
  // Another instance sees none of it and posts only its own; an address no port has gets nothing.
  assert.deepEqual(await request('10.66.0.7', 'GET', path), { status: 200, body: '' });
  assert.equal((await request('10.66.0.7', 'POST', path, 'x'.repeat(1021))).status, 400);
  assert.equal((await request('10.66.0.7', 'POST', path, '')).status, 400);
  assert.equal((await request('10.66.0.7', 'POST', path, 'seven-cipher')).status, 200);
  assert.deepEqual(await request('10.66.0.7', 'GET', path), { status: 200, body: 'seven-cipher' });
  assert.deepEqual(await request('10.66.0.5', 'GET', path), { status: 200, body: cipher });
  assert.equal((await request('10.66.0.6', 'POST', path, 'stray')).status, 404);
  assert.equal((await request('10.66.0.6', 'GET', path)).status, 404);
  // Before 2013-04-04 there is no password path; other paths take no POST.
  assert.equal((await request('10.66.0.5', 'GET', '/openstack/2012-08-10/password')).status, 404);
  assert.equal((await request('10.66.0.5', 'POST', '/openstack/latest/meta_data.json', 'x')).status, 405);
  assert.equal((await request('10.66.0.5', 'PUT', path, 'x')).status, 400);
  // A cleared password (the API's DELETE) may be posted again.
  await new InstanceDirPasswords((id) => join(instances, id)).clear(FIVE);
  assert.equal((await request('10.66.0.5', 'POST', path, 'again')).status, 200);
});

test('a namespace replaced under it is served anew; delete lets the namespace go', async () => {
  const before = await netnsInode(NS);
  ip(['netns', 'del', NS]);
  makeNamespace();
  assert.notEqual(await netnsInode(NS), before);
  await service.ensure(scope);
  assert.equal((await get('10.66.0.5', '/latest/meta-data/hostname')).status, 200);
  await service.delete(scope.key);
  assert.deepEqual(service.scopes(), []);
  // Nothing listens any more: the connection is refused inside the namespace.
  const r = await run('ip', [
    'netns',
    'exec',
    NS,
    process.execPath,
    '-e',
    "require('node:net').connect(80, '169.254.169.254').on('error', (e) => { process.stdout.write(e.code); })",
  ]);
  assert.equal(r.stdout, 'ECONNREFUSED');
});

test('binding where the address is missing fails with the reason', async () => {
  await assert.rejects(listenInNamespace(NS, '169.254.169.253', 80), /EADDRNOTAVAIL/);
  await assert.rejects(service.ensure({ ...scope, namespace: `${NS}-none` }), /does not exist/);
});
