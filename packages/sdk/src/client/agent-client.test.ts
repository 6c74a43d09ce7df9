import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CONTENT_BLOCK, ContentCrc32, type DataPiece, ExtentsParser } from '@stratus/util';
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

/**
 * A fake agent taking uploads: it parses the extents body, keeps the bytes it got (as `got`) and answers
 * the upload check of those bytes, computed after `corrupt` had its way with them.
 */
function uploadAgent(socket: string, corrupt: (bytes: Buffer) => void = () => undefined) {
  const seen: { got: Buffer | null } = { got: null };
  const server = createServer(async (req, res) => {
    const pieces: DataPiece[] = [];
    const parser = new ExtentsParser((offset, data) => pieces.push({ offset, data: Buffer.from(data) }));
    for await (const chunk of req) parser.push(chunk as Buffer);
    const size = parser.end();
    const got = Buffer.alloc(size);
    for (const p of pieces) p.data.copy(got, p.offset);
    seen.got = Buffer.from(got);
    corrupt(got);
    const crc = new ContentCrc32();
    crc.addPiece({ offset: 0, data: got });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ sizeBytes: size, checksum: 'c'.repeat(64), contentCrc32: crc.hex() }));
  });
  servers.push(server);
  return new Promise<typeof seen>((r) => server.listen(socket, () => r(seen)));
}

test('an upload sends the file byte for byte through its two reused buffers; the agent must answer its check', async () => {
  // Several pieces of 1 MiB, a zero block and a hole: what the agent gets is the file, and the answer's
  // content checksum is the agent's.
  const data = randomBytes(4 * 1024 * 1024 + 1000);
  data.fill(0, 2 * CONTENT_BLOCK, 3 * CONTENT_BLOCK);
  const path = join(dir, 'upload.raw');
  writeFileSync(path, data.subarray(0, 3 * 1024 * 1024));
  const fh = await open(path, 'r+');
  await fh.write(data, 3 * 1024 * 1024 + 4096, undefined, 3 * 1024 * 1024 + 4096);
  data.fill(0, 3 * 1024 * 1024, 3 * 1024 * 1024 + 4096);
  const good = join(dir, 'up-good.sock');
  const seen = await uploadAgent(good);
  const c = new AgentClient({ socket: good, token: 't' }, fast);
  try {
    assert.deepEqual(await c.upload('/v1/images/x/file', fh), {
      sizeBytes: data.length,
      checksum: 'c'.repeat(64),
    });
    assert.ok(seen.got?.equals(data), 'the agent got the file as it is');
    // An agent that stored one bit differently is caught, and the upload fails.
    const bad = join(dir, 'up-bad.sock');
    await uploadAgent(bad, (bytes) => {
      bytes.writeUInt8(bytes.readUInt8(1024 * 1024 + 5) ^ 1, 1024 * 1024 + 5);
    });
    const c2 = new AgentClient({ socket: bad, token: 't' }, fast);
    await assert.rejects(
      c2.upload('/v1/images/x/file', fh),
      (e) => AgentApiError.isInstance(e) && e.code === 'upload_corrupted',
    );
    await c2.close();
  } finally {
    await fh.close();
    await c.close();
  }
});
