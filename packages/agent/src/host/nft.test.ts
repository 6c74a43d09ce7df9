import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from './exec.js';
import { NftLedger, nft, nftSnapshot, stopNftWatch } from './nft.js';

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

test("NftLedger: kept through this agent's own writes (patched), read again after another process's or a failed one", async (t) => {
  const table = `${TABLE}-ledger`;
  t.after(async () => {
    stopNftWatch();
    await run('nft', ['delete', 'table', 'inet', table]).catch(() => undefined);
  });
  let reads = 0;
  const ledger = new NftLedger(async () => ({ read: ++reads, patches: 0 }));
  await ledger.get();
  await until('kept while the host is quiet', async () => {
    const first = await ledger.get();
    return (await ledger.get()) === first;
  });

  // The agent's own write is no reason to read again: the monitor names the process that committed
  // it. (Other tests' writes are, so "kept" is looked for until one write of ours passes alone.)
  await until("an own write keeps the reading, with the owner's patch applied", async () => {
    const before = await ledger.get();
    const patched = before.patches;
    await nft(['add', 'table', 'inet', table]);
    ledger.patch((v) => v.patches++);
    await nft(['delete', 'table', 'inet', table]);
    ledger.patch((v) => v.patches++);
    // Long enough for the monitor to have reported both commits (they are milliseconds away).
    await new Promise((r) => setTimeout(r, 200));
    const after = await ledger.get();
    return after === before && after.patches === patched + 2;
  });

  // Another process's write: read again once the monitor has reported it.
  const beforeOutside = await ledger.get();
  await run('nft', ['add', 'table', 'inet', table]);
  await until('the outside change is seen', async () => (await ledger.get()).read > beforeOutside.read);

  // After a write that failed, the owner forgets the reading: read again at once.
  const beforeForget = await ledger.get();
  await assert.rejects(nft(['add', 'rule', 'inet', table, 'no-such-chain', 'accept']));
  ledger.forget();
  assert.ok((await ledger.get()).read > beforeForget.read);
});
