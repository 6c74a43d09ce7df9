// Build step of @stratus/sdk after tsc (its `npm run build`): the stratus CLI bundled by esbuild into
// packages/sdk/dist/bundle/, the package's `bin`. stratus.js is the entry (dist/cli/main.js and what
// every command needs); each command's implementation is a chunk loaded when it runs, as the command
// registry's dynamic imports ask. Node then resolves, reads and compiles a few files instead of about
// 120 for a plan (about a quarter less CPU per command on this 2-core host; bench/cli-start.ts measures
// the start). The modules stay in dist/ for the library's users.
// Left outside: pg (loaded on a postgres backend's first query), tsx and esbuild (a program stack's
// loader), and the agent package (only located, to start its daemon).
// The bundle's files sit at the same depth below the package as dist/cli's, so paths made from
// import.meta.url (the package.json the version comes from) hold in both.
import { chmodSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const sdk = resolve(fileURLToPath(import.meta.url), '../../packages/sdk');
const out = resolve(sdk, 'dist/bundle');
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: { stratus: resolve(sdk, 'dist/cli/main.js') },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Bundled CommonJS (ajv's runtime) calls require() for node's own modules.
  banner: {
    js: "import { createRequire as __stratusRequire } from 'node:module';\nconst require = __stratusRequire(import.meta.url);",
  },
  external: ['pg', 'tsx', 'tsx/*', 'esbuild', '@stratus/agent'],
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
  minify: true,
  keepNames: true,
});
chmodSync(resolve(out, 'stratus.js'), 0o755);
