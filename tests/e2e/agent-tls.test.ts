import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AgentApiError, AgentClient } from '@stratus/sdk/client';
import { AGENT, type AgentEnv, agentEnv, run } from './helpers.js';

let t: AgentEnv;
let port: number;
let cert: string;
let key: string;

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

before(async () => {
  t = agentEnv('tls');
  cert = join(t.dir, 'agent.crt');
  key = join(t.dir, 'agent.key');
  const made = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  assert.equal(made.code, 0, made.stderr);
  port = await freePort();
  await t.startAgent('--listen', `127.0.0.1:${port}`, '--tls-cert', cert, '--tls-key', key);
});

after(async () => {
  await t.cleanup([]);
});

test('the agent serves its API over TLS on TCP, with the same token auth', async () => {
  const url = `https://127.0.0.1:${port}`;
  const ca = readFileSync(cert);
  const c = new AgentClient({ url, ca, tokenFile: join(t.stateDir, 'token') });
  const info = await c.get<{ virtType: string }>('/v1/host');
  assert.ok(['kvm', 'qemu'].includes(info.virtType));
  await c.close();
  const noToken = new AgentClient(
    { url, ca, token: '' },
    { maxElapsedMs: 0, initialDelayMs: 1, maxDelayMs: 1 },
  );
  await assert.rejects(noToken.get('/v1/host'), (e) => AgentApiError.isInstance(e) && e.status === 401);
  await noToken.close();
  // A client that does not trust the certificate gets nowhere.
  const untrusting = new AgentClient(
    { url, tokenFile: join(t.stateDir, 'token') },
    { maxElapsedMs: 0, initialDelayMs: 1, maxDelayMs: 1 },
  );
  await assert.rejects(
    untrusting.get('/v1/host'),
    (e) => AgentApiError.isInstance(e) && e.code === 'agent_unreachable',
  );
  await untrusting.close();
});

test('plain HTTP on a non-loopback address is refused at startup', async () => {
  const other = agentEnv('tls-refuse');
  try {
    const r = await run(process.execPath, [
      AGENT,
      '--state-dir',
      other.stateDir,
      '--socket',
      other.env.STRATUS_AGENT_SOCKET!,
      '--listen',
      '0.0.0.0:1',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not loopback: give --tls-cert and --tls-key/);
  } finally {
    await other.cleanup([]);
  }
});
