/**
 * A second apply while a first one holds the state lock: with -lock-timeout=60s it waits, then
 * succeeds against the state the first one wrote; without it, it fails at once, before printing any
 * plan. The first apply is the real operations layer on a real local state file, with in-memory
 * providers, held at its approval step (where it holds the lock) until the test lets it go on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { applyOperation } from '../operations/run.js';
import { LocalBackend } from '../state/local.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { loadChecked } from './session.js';
import { runCli } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'stratus-lock-timeout-'));
after(() => rmSync(root, { recursive: true, force: true }));
const env = {
  STRATUS_AGENT_STATE_DIR: join(root, 'agent'),
  STRATUS_AGENT_SOCKET: join(root, 'agent', 'sock'),
};

const STACK = `name: locked
resources:
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.30.0.0/24
`;

/** Starts the first apply; resolves once it holds the lock and waits for approval. */
async function firstApply(dir: string) {
  const stack = await loadChecked(dir);
  let approve!: (yes: boolean) => void;
  let planned!: () => void;
  const atApproval = new Promise<void>((r) => (planned = r));
  const done = applyOperation({
    stack,
    backend: new LocalBackend(join(dir, 'stratus.state.json')),
    providers: new MemoryHandlers().providers,
    approve: () => {
      planned();
      return new Promise<boolean>((r) => (approve = r));
    },
  });
  await atApproval;
  return { approve: (yes: boolean) => approve(yes), done };
}

test('without -lock-timeout the second apply fails at once, before printing any plan', async () => {
  const dir = mkdtempSync(join(root, 'nowait-'));
  writeFileSync(join(dir, 'stack.yaml'), STACK);
  const first = await firstApply(dir);
  try {
    const second = await runCli(['apply', '-auto-approve', '-refresh=false', dir], { env });
    assert.equal(second.code, 1);
    assert.equal(second.stdout, '', 'no plan was printed');
    assert.match(
      second.stderr,
      /^error: state .*stratus\.state\.json is locked by .* \(apply\) since .*; lock id ([0-9a-f-]+)\. If no run holds it any more, remove it with: stratus force-unlock \1 .*\nAnother run holds the state lock\. Wait for it, or retry with -lock-timeout=DURATION/,
    );
  } finally {
    first.approve(true);
    const o = await first.done;
    assert.equal(o.result?.ok, true);
  }
});

test('with -lock-timeout=60s the second apply waits for the first, then succeeds on its state', async () => {
  const dir = mkdtempSync(join(root, 'wait-'));
  writeFileSync(join(dir, 'stack.yaml'), STACK);
  const first = await firstApply(dir);
  let released = false;
  try {
    // The second apply, started while the first holds the lock; it says it waits on stderr.
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        main,
        'apply',
        '-auto-approve',
        '-refresh=false',
        '-lock-timeout=60s',
        dir,
      ],
      { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    const waiting = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b;
        if (/waiting up to 60s for it \(-lock-timeout\)/.test(stderr)) resolve();
      });
      child.on('close', () =>
        reject(new Error(`the second apply ended without waiting:\n${stdout}\n${stderr}`)),
      );
    });
    const closed = new Promise<number>((r) => child.on('close', (code) => r(code ?? 1)));
    await waiting;
    assert.equal(stdout, '', 'nothing planned while waiting');
    // Let the first apply go on: it creates both resources, saves state and releases the lock.
    first.approve(true);
    released = true;
    const o = await first.done;
    assert.equal(o.result?.ok, true);
    assert.equal(o.result?.added, 2);
    const code = await closed;
    assert.equal(code, 0, stderr);
    assert.match(
      stderr,
      /^state .*stratus\.state\.json is locked by .* \(apply\) since .*; waiting up to 60s/m,
    );
    // It planned against the state the first apply wrote: nothing left to do.
    assert.match(stdout, /No changes\. Your infrastructure matches the configuration\./);
  } finally {
    if (!released) {
      first.approve(false);
      await first.done;
    }
  }
});
