/**
 * Reads through the agent: reads issued together go to each host as one list call per collection
 * (`GET /v1/{collection}?id=…`), a lone read stays a GET by id, and what the agent does not have reads
 * as null. The agent is a fake client that records the requests it gets.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { type ApiRecord, schemas } from '@stratus/model';
import type { AgentClient } from '../client/agent-client.js';
import { AgentPool } from '../client/pool.js';
import { agentResourceIO } from './agent-io.js';

function fakeAgent(have: Set<string>) {
  const requests: string[] = [];
  const rec = (id: string): ApiRecord => ({
    id,
    type: 'network',
    spec: { mtu: 1500 },
    status: { bridge: `brq${id.slice(0, 8)}` },
    host: 'local',
  });
  const client = {
    async find(path: string) {
      requests.push(`GET ${path}`);
      const id = path.split('/').pop()!;
      return have.has(id) ? rec(id) : null;
    },
    async get(path: string) {
      requests.push(`GET ${path}`);
      const ids = new URL(path, 'http://agent').searchParams.getAll('id');
      return { items: ids.filter((id) => have.has(id)).map(rec) };
    },
  } as unknown as AgentClient;
  return { requests, pool: new AgentPool(async () => client) };
}

const ctx = { signal: new AbortController().signal, log: { debug() {}, warn() {} }, host: 'local' };

test('reads issued together are one list call; a lone read is a GET by id; a missing one is null', async () => {
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const gone = randomUUID();
  const { requests, pool } = fakeAgent(new Set(ids));
  const io = agentResourceIO(schemas.network, pool);
  const got = await Promise.all([...ids, gone].map((id) => io.read(ctx, id, {})));
  assert.deepEqual(
    got.map((g) => g?.bridge ?? null),
    [...ids.map((id) => `brq${id.slice(0, 8)}`), null],
  );
  assert.deepEqual(requests, [`GET /v1/networks?${[...ids, gone].map((id) => `id=${id}`).join('&')}`]);

  requests.length = 0;
  assert.equal((await io.read(ctx, ids[0]!, {}))?.mtu, 1500);
  assert.deepEqual(requests, [`GET /v1/networks/${ids[0]}`]);
});
