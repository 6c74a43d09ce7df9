import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCli } from '../cli/testing.js';
import { formatDiagnostic } from '../diagnostics/index.js';
import { checkStack } from '../engine/check.js';
import type { StackConfig } from '../engine/config.js';
import { emptyState, makePlan } from '../engine/plan.js';
import { unrefreshed } from '../engine/refresh.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { loadProgram } from './program.js';
import { loadStackFile } from './stack-yaml.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../../..');
const EXAMPLE = join(ROOT, 'examples/typescript/program.ts');
const QUICKSTART = join(ROOT, 'examples/quickstart/stack.yaml');
/** Test programs import the constructs from source, so they run without a build. */
const CONSTRUCTS = pathToFileURL(resolve(fileURLToPath(import.meta.url), '../../constructs/index.ts')).href;

const dir = mkdtempSync(join(tmpdir(), 'stratus-program-'));
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a program; `$C` in the text stands for the constructs module. */
function program(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text.replaceAll('$C', CONSTRUCTS));
  return file;
}

/** The plan of a config against no state, with in-memory handlers. */
function planOf(config: StackConfig) {
  const providers = new MemoryHandlers().providers;
  const checked = checkStack(config, providers);
  assert.deepEqual(checked.diagnostics.items.map(formatDiagnostic), []);
  const plan = makePlan(config, checked.graph, unrefreshed(emptyState(config.name)), null, providers);
  return plan.changes.map((c) => ({ name: c.name, type: c.type, action: c.action, after: c.after }));
}

describe('loadProgram', () => {
  test('the TypeScript example plans exactly as the YAML quickstart', async () => {
    const ts = await loadProgram(EXAMPLE);
    // The example imports @stratus/sdk, i.e. the built package: `npm run build` first.
    assert.deepEqual(ts.diagnostics.items.map(formatDiagnostic), []);
    const yaml = loadStackFile(QUICKSTART);
    assert.ok(ts.config && yaml.config);
    assert.deepEqual(planOf(ts.config), planOf(yaml.config));
    assert.equal(ts.config.name, yaml.config.name);
    const outputs = (c: StackConfig) => [...c.outputs.values()].map((o) => ({ ...o, locate: undefined }));
    assert.deepEqual(outputs(ts.config), outputs(yaml.config));
  });

  test('a bad property is reported at the file, line and column of its new expression', async () => {
    const file = program(
      'bad.ts',
      `import { Network, Server, Stack, Image } from '$C';

interface Sizes {
  small: number;
}
const sizes: Sizes = { small: 32 };

const stack = new Stack('bad');
const net = new Network(stack, 'net');
const image = new Image(stack, 'img', { source: '/images/a.qcow2' });
  new Server(stack, 'web', { image, memoryMb: sizes.small, networks: [{ network: net }] });
export default stack;
`,
    );
    const { config, diagnostics } = await loadProgram(file);
    assert.ok(config);
    assert.deepEqual(diagnostics.items.map(formatDiagnostic), [
      `${file}:11:3: error: resources.web.properties.memoryMb: must be >= 64`,
    ]);
  });

  test('a default export that is an async function returning a stack is run', async () => {
    const file = program(
      'async.mts',
      `import { Network, Stack } from '$C';
export default async function () {
  const stack = new Stack('a');
  await new Promise((r) => setTimeout(r, 1));
  new Network(stack, 'n', { mtu: 9000 });
  return stack;
}
`,
    );
    const { config, diagnostics } = await loadProgram(file);
    assert.deepEqual(diagnostics.items, []);
    assert.equal(config?.resources.get('n')?.properties.mtu, 9000);
  });

  test('what a program throws is a diagnostic at the line that threw', async () => {
    const file = program(
      'throws.ts',
      `import { Stack } from '$C';
type Env = { IMAGE?: string };
const env: Env = {};
if (!env.IMAGE)
  throw new Error('IMAGE is not set');
export default new Stack();
`,
    );
    const { config, diagnostics } = await loadProgram(file);
    assert.equal(config, undefined);
    assert.deepEqual(diagnostics.items.map(formatDiagnostic), [
      `${file}:5:9: error: the program failed: IMAGE is not set`,
    ]);
  });

  test('a token used as text is reported at the user line, not inside the SDK', async () => {
    const file = program(
      'text.ts',
      `import { Image, Server, Stack } from '$C';
const stack = new Stack();
const img = new Image(stack, 'img', { source: '/a.qcow2' });
const script: string = \`#!/bin/sh
echo \${img.attrs.checksum}\`;
export default stack;
`,
    );
    const { diagnostics } = await loadProgram(file);
    const [d] = diagnostics.items.map(formatDiagnostic);
    assert.match(
      d ?? '',
      new RegExp(
        `^${file}:5:18: error: the program failed: TypeError: a Stratus token cannot be used as text`,
      ),
    );
  });

  test('syntax errors, missing files and wrong exports are diagnostics', async () => {
    const syntax = program(
      'syntax.ts',
      `import { Stack } from '$C';\nconst s = new Stack(;\nexport default s;\n`,
    );
    const [d1] = (await loadProgram(syntax)).diagnostics.items.map(formatDiagnostic);
    assert.match(d1 ?? '', new RegExp(`^${syntax}:2:\\d+: error: the program failed: `));
    const none = program('none.ts', 'export const x = 1;\n');
    const [d2] = (await loadProgram(none)).diagnostics.items.map(formatDiagnostic);
    assert.equal(
      d2,
      `${none}:1:1: error: the default export must be a Stack, or a function returning one (possibly async); got nothing`,
    );
    const [d3] = (await loadProgram(join(dir, 'missing.ts'))).diagnostics.items.map(formatDiagnostic);
    assert.match(d3 ?? '', /missing\.ts:1:1: error: cannot read stack program/);
  });

  test('the CLI validates a program, and reports its errors with locations', async () => {
    const ok = await runCli(['validate', EXAMPLE]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /program\.ts is valid \(5 resources\)/);
    const bad = await runCli(['validate', join(dir, 'bad.ts')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.ts:11:3: error: resources\.web\.properties\.memoryMb: must be >= 64/);
  });
});
