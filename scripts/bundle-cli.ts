// Build step of @stratus/sdk after tsc (its `npm run build`): the stratus CLI bundled by esbuild into
// packages/sdk/dist/bundle/, and a V8 code cache for it.
// - cli.js: dist/cli/main.js and everything it imports, one CommonJS file wrapped as a function
//   expression over CommonJS's module arguments, which the launcher compiles with vm.Script.
// - stratus.js: the launcher (src/cli/launcher.ts), the package's `bin`; it compiles cli.js with the
//   code cache and runs it. dist/bundle/package.json makes both CommonJS.
// - cli.js.v8cache: the code cache, made by running the launcher on a few commands that need no agent
//   (version, -help, validate and plan of examples/quickstart) with STRATUS_CLI_CODE_CACHE=write; each
//   run adds the functions it compiled. A command starts from their bytecode instead of compiling them
//   (bench/cli-start.ts measures it; without the cache, compiling the modules was the largest part of a
//   plan's start after node's own).
// Commands are still loaded lazily inside the bundle (the registry's dynamic imports become calls of
// esbuild's lazy module initializers), so a command runs only the module bodies it needs.
// Left outside: pg (loaded on a postgres backend's first query), tsx and esbuild (a program stack's
// loader), and the agent package (only located, to start its daemon).
// The bundle sits at the same depth below the package as dist/cli, so paths made from import.meta.url
// (the package.json the version comes from) hold in both; in the bundle, import.meta.url is the bundle's
// own URL and import.meta.resolve resolves as require.resolve does from it.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const sdk = resolve(root, 'packages/sdk');
const out = resolve(sdk, 'dist/bundle');
rmSync(out, { recursive: true, force: true });

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
  minify: true,
  keepNames: true,
} as const;

const cli = await build({
  ...common,
  metafile: true,
  entryPoints: [resolve(sdk, 'dist/cli/main.js')],
  outfile: resolve(out, 'cli.js'),
  external: ['pg', 'tsx', 'tsx/*', 'esbuild', '@stratus/agent'],
  define: {
    'import.meta.url': '__stratusImportMetaUrl',
    'import.meta.resolve': '__stratusImportMetaResolve',
  },
  banner: {
    js: [
      "(function (exports, require, module, __filename, __dirname) { 'use strict';",
      "const __stratusImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
      "const __stratusImportMetaResolve = (s) => require('node:url').pathToFileURL(require.resolve(s)).href;",
    ].join('\n'),
  },
  footer: { js: '})' },
  sourcemap: 'linked',
});
// The launcher compiles cli.js as a vm.Script, where a dynamic import() finds no module loader ("A
// dynamic import callback was not specified"): external packages are imported through importModule
// (src/util/import-module.ts), whose non-literal import() esbuild does not list here.
const dynamic = Object.values(cli.metafile.outputs)
  .flatMap((o) => o.imports)
  .filter((i) => i.kind === 'dynamic-import' && i.external)
  .map((i) => i.path);
if (dynamic.length)
  throw new Error(`bundle-cli: cli.js would import() ${dynamic.join(', ')}; use importModule`);
await build({
  ...common,
  entryPoints: [resolve(sdk, 'dist/cli/launcher.js')],
  outfile: resolve(out, 'stratus.js'),
  banner: { js: '#!/usr/bin/env node' },
});
writeFileSync(resolve(out, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
chmodSync(resolve(out, 'stratus.js'), 0o755);
// cli.js keeps main.js's #! line (esbuild puts it first), but it is no command on its own.
chmodSync(resolve(out, 'cli.js'), 0o644);

// Training: each command in a scratch directory (plan writes nothing without state, but stays off the
// checkout all the same), with no agent or backend named by the environment.
const scratch = mkdtempSync(join(tmpdir(), 'stratus-code-cache-'));
try {
  copyFileSync(resolve(root, 'examples/quickstart/stack.yaml'), join(scratch, 'stack.yaml'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: scratch,
    NO_COLOR: '1',
    STRATUS_CLI_CODE_CACHE: 'write',
  };
  for (const args of [['version'], ['-help'], ['validate'], ['plan', '-input=false']]) {
    const r = spawnSync(process.execPath, [resolve(out, 'stratus.js'), ...args], {
      cwd: scratch,
      env,
      encoding: 'utf8',
    });
    if (r.status !== 0)
      throw new Error(
        `bundle-cli: training run \`stratus ${args.join(' ')}\` exited ${r.status}: ${r.stderr}`,
      );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
