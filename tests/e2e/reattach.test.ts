/**
 * Re-attaching to a create the client gave up on (issue 8): an image create that times out on the CLI's
 * side is recorded as in flight (`creating`), not tainted; the next apply creates it again under the same
 * id, which the agent answers with the object it made or is making. Nothing is made twice, no upload or
 * temporary is left in the cache, and the stack then plans empty.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, imageCache } from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

const ok = (r: { code: number; stdout: string; stderr: string }) =>
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
/** The cache's images and anything else in it but its data blobs (uploads, temporaries). */
const cacheNames = () =>
  imageCache(t.stateDir)
    .filter((n) => !/^blobs\/[0-9a-f]{64}(\.json)?$/.test(n))
    .sort();
const imageRecords = () => {
  const d = join(t.stateDir, 'records', 'images');
  return existsSync(d) ? readdirSync(d).map((f) => f.replace(/\.json$/, '')) : [];
};
const stackText = (timeouts: string) =>
  `name: reattach\nresources:\n  img:\n    type: image\n    properties:\n      source: disk.raw\n${timeouts}`;

before(async () => {
  t = agentEnv('reattach');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  // A small image with data all through it (no holes to skip): 8 MiB.
  const data = Buffer.alloc(8 << 20);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
  writeFileSync(join(t.dir, 'disk.raw'), data);
  await t.startAgent();
});

after(async () => {
  await t.cleanup([state]);
});

test('an image create that timed out on the client is taken up by the next apply under the same id', async () => {
  // 1 ms: the client gives up at once, while the agent is receiving or importing the image.
  writeFileSync(stack, stackText('    timeouts:\n      create: 1ms\n'));
  const first = await t.stratus('apply', '-auto-approve', '-state', state, stack);
  assert.equal(first.code, 1, `${first.stdout}\n${first.stderr}`);
  assert.match(first.stderr, /creating image img timed out/);
  assert.match(first.stderr, /the next apply takes up the same object/);
  const recorded = JSON.parse(readFileSync(state, 'utf8')).resources;
  assert.equal(recorded.length, 1);
  assert.equal(recorded[0].status, 'creating', 'in flight, not tainted');
  const id: string = recorded[0].id;

  writeFileSync(stack, stackText(''));
  const plan = await t.stratus('plan', '-no-color', '-detailed-exitcode', '-state', state, stack);
  assert.equal(plan.code, 2, `${plan.stdout}\n${plan.stderr}`);
  assert.match(plan.stdout, new RegExp(`image img will be created \\(again, as ${id}`));
  assert.doesNotMatch(plan.stdout, /must be replaced|tainted/);

  ok(await t.stratus('apply', '-auto-approve', '-state', state, stack));
  const after = JSON.parse(readFileSync(state, 'utf8')).resources;
  assert.equal(after.length, 1);
  assert.equal(after[0].id, id, 'the same object, not a replacement');
  assert.equal(after[0].status, 'ready');
  assert.deepEqual(imageRecords(), [id], 'exactly one image on the agent');
  assert.deepEqual(cacheNames(), [id], 'no upload or temporary left in the cache');
  const noop = await t.stratus('plan', '-detailed-exitcode', '-state', state, stack);
  assert.equal(noop.code, 0, `${noop.stdout}\n${noop.stderr}`);
});
