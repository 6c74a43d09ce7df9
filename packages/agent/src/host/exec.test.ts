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
