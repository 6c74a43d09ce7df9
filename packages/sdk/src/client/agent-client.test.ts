import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { AgentClient } from './agent-client.js';
import { AgentApiError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-client-'));
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fake agent on a unix socket answering from a script of responses. */
function fakeAgent(
  socket: string,
  answers: { status: number; body: unknown }[],
): Promise<{ hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    const a = answers[Math.min(hits, answers.length - 1)]!;
    hits++;
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(a.body));
  });
  servers.push(server);
  return new Promise((r) => server.listen(socket, () => r({ hits: () => hits })));
}

const fast = { maxElapsedMs: 5000, initialDelayMs: 10, maxDelayMs: 50 };

test('5xx marked retryable is retried with backoff until it succeeds', async () => {
  const socket = join(dir, 'a.sock');
  const agent = await fakeAgent(socket, [
    { status: 503, body: { code: 'libvirt_unavailable', message: 'down', retryable: true } },
    { status: 503, body: { code: 'libvirt_unavailable', message: 'down', retryable: true } },
    { status: 200, body: { ok: true } },
  ]);
  const c = new AgentClient({ socket, token: 't' }, fast);
  assert.deepEqual(await c.get('/v1/host'), { ok: true });
  assert.equal(agent.hits(), 3);
  await c.close();
});

test('errors not marked retryable fail at once with their code and field', async () => {
  const socket = join(dir, 'b.sock');
  const agent = await fakeAgent(socket, [
    { status: 409, body: { code: 'in_use', message: 'busy', field: 'network' } },
  ]);
  const c = new AgentClient({ socket, token: 't' }, fast);
  await assert.rejects(
    c.put('/v1/networks/x', {}),
    (e) => AgentApiError.isInstance(e) && e.code === 'in_use' && e.field === 'network',
  );
  assert.equal(agent.hits(), 1);
  await c.close();
});

test('an agent that is not there yet is retried; one that never comes is reported as unreachable', async () => {
  const socket = join(dir, 'c.sock');
  // Retries for up to a minute: the fake agent comes after 150 ms, later on a loaded host.
  const c = new AgentClient({ socket, token: 't' }, { ...fast, maxElapsedMs: 60_000 });
  setTimeout(() => void fakeAgent(socket, [{ status: 200, body: { late: true } }]), 150);
  assert.deepEqual(await c.get('/v1/host'), { late: true });
  await c.close();
  const never = new AgentClient(
    { socket: join(dir, 'never.sock'), token: 't' },
    { ...fast, maxElapsedMs: 200 },
  );
  await assert.rejects(
    never.get('/v1/host'),
    (e) => AgentApiError.isInstance(e) && e.code === 'agent_unreachable',
  );
  await never.close();
});
