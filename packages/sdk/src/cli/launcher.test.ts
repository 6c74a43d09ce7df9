import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run, runBuiltCli } from './testing.js';

// The installed `stratus` (dist/bundle/stratus.js) compiles the CLI's bundle with the V8 code cache the
// build made (scripts/bundle-cli.ts, cli/launcher.ts). These check that the cache is the one V8 takes,
// that a stale, refused or missing cache costs only time, and that a stack program (an ES module loaded
// through the launcher's import()) still loads from the cached script.

const dir = mkdtempSync(join(tmpdir(), 'stratus-launcher-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const SDK = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../../../examples/', import.meta.url));

/** The code cache outcome the CLI's first debug line reports. */
function codeCache(stderr: string): string | undefined {
  return /codeCache="([^"]+)"/.exec(stderr)?.[1];
}

const debug = { STRATUS_LOG: 'debug', STRATUS_CLI_CODE_CACHE: '' };

test('the built CLI starts from the code cache made at build time: version, plan of a stack file', async () => {
  const v = await runBuiltCli(['version'], { env: debug });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^Stratus v\d/);
  assert.equal(codeCache(v.stderr), 'used', v.stderr);
  const p = await runBuiltCli(['plan', '-input=false', join(EXAMPLES, 'quickstart/stack.yaml')], {
    cwd: dir,
    env: debug,
  });
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /Plan: 5 to add, 0 to change, 0 to destroy\./);
  assert.equal(codeCache(p.stderr), 'used');
});

test('a stack program loads through the cached bundle (its ES modules by the launcher)', async () => {
  const r = await runBuiltCli(['validate', join(EXAMPLES, 'typescript/program.ts')], {
    cwd: dir,
    env: debug,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /program\.ts is valid \(5 resources\)/);
  assert.equal(codeCache(r.stderr), 'used');
  assert.doesNotMatch(r.stderr, /ExperimentalWarning/);
});

test('a stale, refused or missing code cache only costs time: the command runs and says why', async () => {
  // A copy of the package's bin: its package.json (the version) and dist/bundle.
  const pkg = join(dir, 'sdk');
  mkdirSync(join(pkg, 'dist'), { recursive: true });
  copyFileSync(join(SDK, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(SDK, 'dist/bundle'), join(pkg, 'dist/bundle'), { recursive: true });
  const bin = join(pkg, 'dist/bundle/stratus.js');
  const bundle = join(pkg, 'dist/bundle/cli.js');
  const cache = `${bundle}.v8cache`;
  const version = async (env: NodeJS.ProcessEnv = {}) => {
    const r = await run(process.execPath, [bin, 'version'], { env: { ...debug, ...env } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Stratus v\d/);
    return codeCache(r.stderr);
  };
  assert.equal(await version(), 'used');
  assert.equal(await version({ STRATUS_CLI_CODE_CACHE: 'off' }), 'off');

  // The bundle changed after the cache was made (same checksum needed, whatever its length).
  const text = readFileSync(bundle);
  writeFileSync(bundle, Buffer.concat([text, Buffer.from('\n')]));
  assert.equal(await version(), 'stale');
  writeFileSync(bundle, text);

  // The checksum matches but V8 refuses the data (as after a node upgrade).
  const good = readFileSync(cache);
  writeFileSync(cache, Buffer.concat([good.subarray(0, 4), Buffer.alloc(good.length - 4, 7)]));
  assert.equal(await version(), 'rejected');

  rmSync(cache);
  assert.equal(await version(), 'absent');

  // A training run (the build's) writes the cache again, and the next run takes it.
  assert.equal(await version({ STRATUS_CLI_CODE_CACHE: 'write' }), 'write');
  assert.equal(await version(), 'used');
});
