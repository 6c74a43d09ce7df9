import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from './exec.js';
import { nft, nftSnapshot, stopNftWatch } from './nft.js';

// nftSnapshot keeps a reading of the host's ruleset while `nft monitor` reports no change. Other tests
// may change the host's ruleset meanwhile (their port firewalls), so "kept" is checked as "kept once the
// host is quiet", each wait ending on what it waits for, with a limit far above the slowest case.

const TABLE = `stratus-test-watch-${process.pid}`;

async function until(what: string, cond: () => Promise<boolean>, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('nftSnapshot: a reading is kept until nft monitor reports a change or this agent writes', async (t) => {
  t.after(async () => {
    stopNftWatch();
    await run('nft', ['delete', 'table', 'inet', TABLE]).catch(() => undefined);
  });
  let reads = 0;
  const snap = () => nftSnapshot('test', async () => ++reads);

  await snap();
  await until('a second reading with nothing changed is the first', async () => {
    const first = await snap();
    return (await snap()) === first;
  });

  await until('a listing (nft list) is no change', async () => {
    const before = await snap();
    await nft(['list', 'tables']);
    return (await snap()) === before;
  });

  // A change by another process (not through nft()): seen through the monitor.
  const beforeOutside = await snap();
  await run('nft', ['add', 'table', 'inet', TABLE]);
  await until('the outside change is seen', async () => (await snap()) > beforeOutside);

  // A change of this agent's: read again at once, with no wait for the monitor.
  const beforeOwn = await snap();
  await nft(['delete', 'table', 'inet', TABLE]);
  assert.ok((await snap()) > beforeOwn, 'read again right after the agent wrote');
});

test('nftSnapshot: a failed reading is not kept', async (t) => {
  t.after(stopNftWatch);
  let calls = 0;
  const failing = () =>
    nftSnapshot('failing', async () => {
      calls++;
      throw new Error('nft failed');
    });
  await assert.rejects(failing(), /nft failed/);
  await assert.rejects(failing(), /nft failed/);
  assert.equal(calls, 2);
});
