import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, hostObjectsFor, ROOT, stateIds, waitForReady } from './helpers.js';

let t: AgentEnv;
let state: string;
const program = join(ROOT, 'examples/typescript/program.ts');
const yaml = join(ROOT, 'examples/quickstart/stack.yaml');

before(() => {
  t = agentEnv('tsexample');
  state = join(t.dir, 'state.json');
});

after(async () => {
  // cleanup destroys through <dir>/stack.yaml; the program is the stack here.
  if (stateIds(state).length) await t.stratus('destroy', '--auto-approve', '--state', state, program);
  await t.cleanup([]);
});

test('the TypeScript example applies the quickstart infrastructure and plans empty against it, as does the YAML', async () => {
  const applied = await t.stratus('apply', '--auto-approve', '--state', state, program);
  assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
  assert.match(applied.stdout, /Apply complete! Resources: 5 added/);
  const web = JSON.parse(readFileSync(state, 'utf8')).resources.find(
    (r: { name: string }) => r.name === 'web',
  );
  const ready = await waitForReady(web.attributes.consoleLog);
  assert.equal(ready.hostname, 'web');

  for (const stack of [program, yaml]) {
    const p = await t.stratus('plan', '-detailed-exitcode', '--state', state, stack);
    assert.equal(p.code, 0, `${stack}:\n${p.stdout}\n${p.stderr}`);
    assert.match(p.stdout, /No changes/);
  }

  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '--auto-approve', '--state', state, program);
  assert.equal(destroyed.code, 0, destroyed.stdout + destroyed.stderr);
  assert.deepEqual(hostObjectsFor(ids), []);
});
