import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExecError, run } from './exec.js';

test('run: env adds variables to the agent environment for that command only', async () => {
  const script = 'printf "%s|%s|%s" "$GLIBC_TUNABLES" "$STRATUS_EXEC_PROBE" "${PATH:+path}"';
  const withEnv = await run('sh', ['-c', script], { env: { STRATUS_EXEC_PROBE: 'x', GLIBC_TUNABLES: 'y' } });
  assert.equal(withEnv.stdout, 'y|x|path');
  const without = await run('sh', ['-c', script]);
  assert.equal(without.stdout, `${process.env.GLIBC_TUNABLES ?? ''}||path`);
});

test('run: a failing command rejects with ExecError naming it, its exit code and stderr', async () => {
  await assert.rejects(run('sh', ['-c', 'echo nope >&2; exit 3']), (e: unknown) => {
    assert.ok(e instanceof ExecError);
    assert.equal(e.exitCode, 3);
    assert.match(e.message, /^sh -c .* failed \(exit 3\): nope$/);
    return true;
  });
});

test('run: a command past its timeoutMs is killed; one that cannot start leaves no timer behind', async () => {
  await assert.rejects(run('sleep', ['30'], { timeoutMs: 200 }), (e: unknown) => {
    assert.ok(e instanceof ExecError);
    assert.equal(e.exitCode, null);
    return true;
  });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  await assert.rejects(run('stratus-no-such-command', [], { timeoutMs: 30_000 }), ExecError);
  await new Promise((r) => setImmediate(r));
  assert.equal(timers(), before, 'the failed start must not keep its timeout timer');
  // 0 is no limit.
  assert.equal((await run('sh', ['-c', 'echo ok'], { timeoutMs: 0 })).stdout, 'ok\n');
});
