import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedMutex } from './mutex.js';

test('runShared: callers that arrive while a run is queued share it; each gets a run that starts after its call', async () => {
  const m = new KeyedMutex();
  const starts: number[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let clock = 0;
  const job = async () => {
    starts.push(clock);
    if (starts.length === 1) await gate;
  };
  const first = m.runShared('k', job); // runs, held at the gate
  await new Promise((r) => setImmediate(r));
  clock = 1;
  const joined = [m.runShared('k', job), m.runShared('k', job), m.runShared('k', job)];
  assert.equal(joined[0], joined[1], 'queued callers share one promise');
  open();
  await Promise.all([first, ...joined]);
  assert.deepEqual(starts, [0, 1], 'one run for the first caller, one shared by the three that queued');
  // A caller after everything settled gets a run of its own.
  clock = 2;
  await m.runShared('k', job);
  assert.deepEqual(starts, [0, 1, 2]);
  // run() is never shared.
  await Promise.all([m.run('k', job), m.run('k', job)]);
  assert.equal(starts.length, 5);
});
