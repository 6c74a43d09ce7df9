import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { run } from './testing.js';

// What a command loads decides the CLI's start time (issue 8: `stratus version` within 150 ms): the
// registry imports each command's implementation only when it runs. This checks which modules load,
// not how long they take.

const dir = mkdtempSync(join(tmpdir(), 'stratus-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const LOG = join(dir, 'loaded.txt');
// A module-resolution hook that appends every resolved URL to $STRATUS_TEST_LOADED.
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.STRATUS_TEST_LOADED, r.url + '\\n');
  return r;
}`;
const RECORDER = join(dir, 'recorder.mjs');
writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
writeFileSync(
  RECORDER,
  `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
);

/** The module URLs `stratus ...args` resolved, after checking it succeeded. */
async function loaded(args: string[]): Promise<string[]> {
  writeFileSync(LOG, '');
  const r = await run(process.execPath, ['--import', TSX, '--import', RECORDER, MAIN, ...args], {
    env: { STRATUS_TEST_LOADED: LOG },
  });
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(LOG, 'utf8').split('\n').filter(Boolean);
}

/** Libraries and layers a command that reads no stack must not load. */
const HEAVY =
  /\/node_modules\/(yaml|ajv|@sinclair\/typebox|undici|pg)\/|\/sdk\/src\/(engine|loaders|operations|protocol|state\/postgres|client\/agent-client)/;

for (const args of [['version'], ['-help'], ['plan', '-help'], ['completion', 'bash']]) {
  test(`stratus ${args.join(' ')} loads no schemas, engine, YAML, HTTP or PostgreSQL modules`, async () => {
    const urls = await loaded(args);
    assert.ok(
      urls.some((u) => u.includes('/cli/commands/index')),
      'the recorder saw the CLI load',
    );
    assert.deepEqual(
      urls.filter((u) => HEAVY.test(u)),
      [],
    );
  });
}

test('stratus validate does load what it needs (the recorder sees lazy imports)', async () => {
  const urls = await loaded([
    'validate',
    fileURLToPath(new URL('../../../../examples/quickstart', import.meta.url)),
  ]);
  // yaml's runtime, bundled into one module by scripts/bundle-yaml.ts.
  assert.ok(
    urls.some((u) => /\/util\/yaml\.generated\.[jt]s$/.test(u)),
    urls.join('\n'),
  );
  assert.ok(urls.some((u) => /\/sdk\/src\/loaders\//.test(u)));
});

test('stratus plan of a stack loads the agent client but not TLS (a local agent is reached over its socket)', async () => {
  const state = join(dir, 'plan-state.json');
  const urls = await loaded([
    'plan',
    `-state=${state}`,
    fileURLToPath(new URL('../../../../examples/quickstart', import.meta.url)),
  ]);
  assert.ok(
    urls.some((u) => u.includes('/sdk/src/client/agent-client')),
    'the recorder saw the agent client load',
  );
  assert.deepEqual(
    urls.filter((u) => /^node:(https|tls)$/.test(u)),
    [],
  );
});
