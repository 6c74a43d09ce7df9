import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from '../cli/testing.js';
import { LocalBackend } from './local.js';
import { validateSavedPlanFile } from './saved-plan-check.js';
import { STATE_VERSION, type StateDoc, StateError } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'stratus-state-check-'));
after(() => rmSync(root, { recursive: true, force: true }));

const GOOD: StateDoc = {
  version: STATE_VERSION,
  serial: 3,
  lineage: 'l-1',
  stack: 's',
  resources: [{ name: 'net', type: 'network', id: 'n1', attributes: {}, dependencies: [], status: 'ready' }],
  outputs: {},
};

/** The StateError `read` rejects with. */
async function readError(b: LocalBackend): Promise<StateError> {
  try {
    await b.read();
  } catch (e) {
    assert.ok(e instanceof StateError, `expected a StateError, got ${(e as Error).stack}`);
    return e;
  }
  assert.fail('read accepted a damaged state file');
}

// Issue 7, finding 3.
describe('a state file of the wrong shape is an error when read, never taken as empty', () => {
  const cases: [string, string, RegExp][] = [
    ['{}', '{}', /resources: must be a list, not missing/],
    ['null', 'null', /\(document\): must be an object, not null/],
    ['a list', '[]', /must be an object, not a list/],
    ['resources of the wrong type', JSON.stringify({ ...GOOD, resources: 'x' }), /resources: must be a list/],
    [
      'a resource without id',
      JSON.stringify({ ...GOOD, resources: [{ ...GOOD.resources[0], id: undefined }] }),
      /resources\[0\]\.id: must be a string, not missing/,
    ],
    ['a serial that is text', JSON.stringify({ ...GOOD, serial: '3' }), /serial: must be an integer/],
    ['not JSON', '{"version": 1,', /is not valid JSON/],
  ];
  for (const [name, text, why] of cases)
    test(name, async () => {
      const path = join(mkdtempSync(join(root, 'c-')), 'stratus.state.json');
      writeFileSync(path, text);
      let e = await readError(new LocalBackend(path));
      assert.equal(e.code, 'corrupt');
      assert.match(e.message, why);
      assert.ok(e.message.includes(path), e.message);
      assert.match(e.message, /There is no backup/);
      // With a backup, the message says how to restore it.
      writeFileSync(`${path}.backup`, JSON.stringify(GOOD));
      e = await readError(new LocalBackend(path));
      assert.ok(e.message.includes(`cp '${path}.backup' '${path}'`), e.message);
      // Writing over a damaged file is refused too (it would drop what it recorded).
      await assert.rejects(new LocalBackend(path).write({ ...GOOD, serial: 9 }), StateError);
    });

  test('a good document reads back as it is', async () => {
    const path = join(mkdtempSync(join(root, 'ok-')), 'stratus.state.json');
    writeFileSync(path, JSON.stringify(GOOD));
    assert.deepEqual(await new LocalBackend(path).read(), GOOD);
  });

  test('plan, destroy and `state list` of a bad state fail non-zero, naming the file, without a stack trace', async () => {
    const dir = mkdtempSync(join(root, 'cli-'));
    const stack = join(dir, 'stack.yaml');
    writeFileSync(stack, 'resources:\n  net:\n    type: network\n');
    const state = join(dir, 'stratus.state.json');
    const agentDir = join(dir, 'agent');
    for (const text of ['{}', 'null'])
      for (const args of [
        ['plan', stack],
        ['destroy', stack],
        ['state', 'list', '--stack', stack],
      ]) {
        writeFileSync(state, text);
        const r = await runCli(args, { env: { STRATUS_AGENT_STATE_DIR: agentDir } });
        const what = `${args.join(' ')} with ${text}`;
        assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
        assert.ok(r.stderr.includes(`state file ${state} is not a valid Stratus state document`), r.stderr);
        assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
        assert.equal(r.stdout, '', `${what}: nothing listed or planned`);
      }
    // Nothing was started, locked or written.
    assert.deepEqual(readdirSync(dir).sort(), ['stack.yaml', 'stratus.state.json']);
  });
});

describe('validateSavedPlanFile', () => {
  const saved = {
    format: 'stratus-plan',
    version: 2,
    stackFile: '/s/stack.yaml',
    inputs: { '/s/stack.yaml': 'a'.repeat(64) },
    plan: {
      formatVersion: 2,
      stack: 's',
      lineage: null,
      serial: null,
      changes: [
        {
          name: 'net',
          type: 'network',
          action: 'create',
          host: 'local',
          dependencies: [],
          timeouts: { create: 300000, update: 300000, delete: 300000 },
          before: null,
          after: { mtu: 1500 },
          changes: [{ name: 'mtu', before: null, after: 1500, forcesReplace: false, sensitive: false }],
        },
      ],
      outputs: {},
      errors: [],
    },
    refreshedState: GOOD,
  };

  test('a good saved plan passes unchanged', () => {
    assert.equal(validateSavedPlanFile(saved, '/p.plan'), saved);
  });

  for (const [name, bad, why] of [
    ['{}', {}, /format: must be "stratus-plan"/],
    ['null', null, /must be an object, not null/],
    [
      'changes not a list',
      { ...saved, plan: { ...saved.plan, changes: 5 } },
      /plan\.changes: must be a list/,
    ],
    ['a bad state inside', { ...saved, refreshedState: {} }, /refreshedState\.resources: must be a list/],
    [
      'an input without its hash',
      { ...saved, inputs: { '/s/x.ts': 'nope' } },
      /inputs\.\/s\/x\.ts: must be a SHA-256/,
    ],
  ] as const)
    test(`${name} is refused naming the file and what to do`, () => {
      assert.throws(
        () => validateSavedPlanFile(bad, '/p.plan'),
        (e: unknown) =>
          e instanceof StateError &&
          why.test(e.message) &&
          e.message.includes('saved plan /p.plan') &&
          e.message.includes('stratus plan -out /p.plan'),
      );
    });
});
