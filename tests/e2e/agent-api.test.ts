import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApiHostInfo, ApiList, ApiRecord } from '@stratus/model';
import { AgentApiError, AgentClient } from '@stratus/sdk/client';
import { type AgentEnv, agentEnv, hostObjectsFor } from './helpers.js';

let t: AgentEnv;
let client: AgentClient;
const noRetry = { maxElapsedMs: 0, initialDelayMs: 1, maxDelayMs: 1 };

before(async () => {
  t = agentEnv('api');
  await t.startAgent();
  client = new AgentClient({ socket: t.env.STRATUS_AGENT_SOCKET!, tokenFile: join(t.stateDir, 'token') });
});

after(async () => {
  await client?.close();
  await t.cleanup([]);
});

async function expectError(p: Promise<unknown>, status: number, code: string, field?: string) {
  try {
    await p;
  } catch (e) {
    assert.ok(AgentApiError.isInstance(e), String(e));
    assert.equal(e.status, status, e.message);
    assert.equal(e.code, code);
    if (field) assert.equal(e.field, field);
    return;
  }
  assert.fail(`expected ${status} ${code}`);
}

test('the token file is created with mode 0600 and the socket is not world-accessible', () => {
  assert.equal(statSync(join(t.stateDir, 'token')).mode & 0o777, 0o600);
  assert.equal(statSync(t.env.STRATUS_AGENT_SOCKET!).mode & 0o077, 0);
});

test('requests without the token, or with a wrong one, get 401 and change nothing', async () => {
  const id = randomUUID();
  for (const token of ['', 'not-the-token']) {
    const anon = new AgentClient({ socket: t.env.STRATUS_AGENT_SOCKET!, token }, noRetry);
    await expectError(anon.put(`/v1/networks/${id}`, { mtu: 1500 }), 401, 'unauthorized');
    await expectError(anon.get('/v1/host'), 401, 'unauthorized');
    await expectError(anon.delete(`/v1/networks/${id}`), 401, 'unauthorized');
    await anon.close();
  }
  assert.deepEqual(hostObjectsFor([id]), []);
  assert.equal(existsSync(join(t.stateDir, 'records', 'networks', `${id}.json`)), false);
});

test('host info reports the chosen hypervisor and why', async () => {
  const info = await client.get<{ virtType: string; virtReason: string }>('/v1/host');
  assert.ok(['kvm', 'qemu'].includes(info.virtType));
  assert.ok(info.virtReason.length > 0);
});

test('records and host info name the host: local by default, or as configured with --host', async () => {
  const info = await client.get<ApiHostInfo>('/v1/host');
  assert.equal(info.host, 'local');
  const id = randomUUID();
  const rec = await client.put<ApiRecord>(`/v1/networks/${id}`, { mtu: 1500 });
  assert.equal(rec.host, 'local');
  assert.deepEqual(
    (await client.get<ApiList>('/v1/networks')).items.filter((r) => r.id === id).map((r) => r.host),
    ['local'],
  );
  await client.delete(`/v1/networks/${id}`);

  const other = agentEnv('api-host');
  try {
    await other.startAgent('--host', 'rack1-node7');
    const c = new AgentClient({
      socket: other.env.STRATUS_AGENT_SOCKET!,
      tokenFile: join(other.stateDir, 'token'),
    });
    try {
      assert.equal((await c.get<ApiHostInfo>('/v1/host')).host, 'rack1-node7');
    } finally {
      await c.close();
    }
  } finally {
    await other.cleanup([]);
  }
});

test('bodies are validated with the resource schemas: errors carry code, message and field', async () => {
  await expectError(
    client.put(`/v1/subnets/${randomUUID()}`, { network: randomUUID(), cidr: '10.0.0.0/99' }),
    400,
    'invalid_request',
    'cidr',
  );
  await expectError(
    client.put(`/v1/networks/${randomUUID()}`, { mtu: 1500, colour: 'red' }),
    400,
    'invalid_request',
    'colour',
  );
  await expectError(client.put('/v1/networks/not-a-uuid', { mtu: 1500 }), 400, 'invalid_request', 'id');
  await expectError(
    client.put(`/v1/subnets/${randomUUID()}`, { network: randomUUID(), cidr: '10.0.0.0/24' }),
    400,
    'invalid_reference',
    'network',
  );
  await expectError(client.get(`/v1/servers/${randomUUID()}`), 404, 'not_found');
  const recs = join(t.stateDir, 'records');
  assert.deepEqual(existsSync(recs) ? readdirSync(recs).flatMap((c) => readdirSync(join(recs, c))) : [], []);
});

test('PUT is idempotent by id; requiresReplace attributes cannot change in place; DELETE removes host objects', async () => {
  const id = randomUUID();
  const a = await client.put<{ status: { bridge: string } }>(`/v1/networks/${id}`, { mtu: 1500, name: 'a' });
  const b = await client.put<{ status: { bridge: string } }>(`/v1/networks/${id}`, { mtu: 1500, name: 'b' });
  assert.equal(a.status.bridge, b.status.bridge);
  // A Linux bridge network's host objects: its bridge and its conntrack zone table.
  assert.deepEqual(hostObjectsFor([id]), [`bridge ${a.status.bridge}`, `nft table stratus-net-${id}`]);
  await expectError(client.put(`/v1/networks/${id}`, { mtu: 1400 }), 409, 'requires_replace', 'mtu');
  await client.delete(`/v1/networks/${id}`);
  await client.delete(`/v1/networks/${id}`);
  assert.deepEqual(hostObjectsFor([id]), []);
});

test('GET /v1/{collection}?id=A&id=B answers those that exist, as GET by id does; a bad id is a 400', async () => {
  const ids = [randomUUID(), randomUUID()];
  const missing = randomUUID();
  try {
    for (const id of ids) await client.put(`/v1/networks/${id}`, { mtu: 1500 });
    const list = await client.get<ApiList>(`/v1/networks?id=${ids[0]}&id=${missing}&id=${ids[1]}`);
    assert.deepEqual(
      list.items.map((r) => r.id),
      ids,
      'only the ones asked for, in order, without the missing one',
    );
    for (const r of list.items) assert.deepEqual(r, await client.get<ApiRecord>(`/v1/networks/${r.id}`));
    assert.deepEqual((await client.get<ApiList>(`/v1/networks?id=${missing}`)).items, []);
    await expectError(client.get(`/v1/networks?id=nope`), 400, 'invalid_request', 'id');
  } finally {
    for (const id of ids) await client.delete(`/v1/networks/${id}`);
  }
});
