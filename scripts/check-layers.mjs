#!/usr/bin/env node
// Checks the import structure of the packages: no import circles (madge), and no lower layer importing
// a higher one. The layers, lowest first (the architecture's data flow: model <- provider protocol <-
// engine <- operations <- cli); a folder may import its own layer and those below it.
//   @stratus/model                      pure model: schemas, formats, validation, the one diff
//   sdk: errors, util, diagnostics      shared basics
//   sdk: client, state                  the agent client and pool; state documents and backends
//   sdk: protocol                       the provider protocol
//   sdk: engine                         graph, plan, apply
//   sdk: constructs, loaders            front ends that produce stack configs
//   sdk: operations                     lock -> refresh -> plan -> approve -> apply -> save
//   sdk: testing                        test helpers for users
//   sdk: cli, index.ts                  the stratus command and the package root
// @stratus/util (packages/util) imports nothing of Stratus. The agent (packages/agent) imports
// @stratus/model and @stratus/util only: never the sdk (so not pg, tsx or yaml).
// Exit 1 with one line per violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import madge from 'madge';

const root = resolve(new URL('..', import.meta.url).pathname);

/** The non-test TypeScript files below `dir`. */
function walkTs(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walkTs(p, out);
    else if (name.endsWith('.ts') && !/\.(test|test-support|generated)\.ts$/.test(name)) out.push(p);
  }
  return out;
}
const SDK_LAYERS = [
  ['errors.ts', 'util', 'diagnostics'],
  ['client', 'state'],
  ['protocol'],
  ['engine'],
  ['constructs', 'loaders', 'expand'],
  ['operations'],
  ['testing'],
  ['cli', 'index.ts'],
];

/** The sdk layer of a file under packages/sdk/src, or -1 for the model package, undefined elsewhere. */
function layerOf(file) {
  if (file.startsWith('packages/model/src/') || file.startsWith('packages/util/src/')) return -1;
  const m = /^packages\/sdk\/src\/([^/]+)/.exec(file);
  if (!m) return undefined;
  const i = SDK_LAYERS.findIndex((names) => names.includes(m[1]));
  if (i < 0) throw new Error(`check-layers: ${file} is in no layer; add its folder to SDK_LAYERS`);
  return i;
}

const res = await madge(
  ['packages/model/src', 'packages/util/src', 'packages/sdk/src', 'packages/agent/src'],
  {
    baseDir: root,
    fileExtensions: ['ts'],
    tsConfig: resolve(root, 'tsconfig.base.json'),
    excludeRegExp: [/\.test\.ts$/, /\.test-support\.ts$/, /\/dist\//, /\.generated\.ts$/],
    detectiveOptions: { ts: { skipTypeImports: true }, es6: { skipTypeImports: true } },
  },
);
const problems = [];
for (const c of res.circular()) problems.push(`import circle: ${c.join(' -> ')}`);
// Layering counts type imports too: a type is a dependency on the layer that defines it.
const all = await madge(
  ['packages/model/src', 'packages/util/src', 'packages/sdk/src', 'packages/agent/src'],
  {
    baseDir: root,
    fileExtensions: ['ts'],
    tsConfig: resolve(root, 'tsconfig.base.json'),
    excludeRegExp: [/\.test\.ts$/, /\.test-support\.ts$/, /\/dist\//, /\.generated\.ts$/],
  },
);
for (const [from, deps] of Object.entries(all.obj())) {
  const f = relative(root, resolve(root, from));
  for (const d of deps) {
    const t = relative(root, resolve(root, d));
    if (f.startsWith('packages/model/') && !t.startsWith('packages/model/'))
      problems.push(`${f} imports ${t}: the model package imports nothing of Stratus`);
    else if (f.startsWith('packages/util/') && !t.startsWith('packages/util/'))
      problems.push(`${f} imports ${t}: the util package imports nothing of Stratus`);
    else if (f.startsWith('packages/agent/') && !/^packages\/(agent|model|util)\//.test(t))
      problems.push(`${f} imports ${t}: the agent uses only @stratus/model and @stratus/util`);
    else {
      const lf = layerOf(f);
      const lt = layerOf(t);
      if (lf !== undefined && lt !== undefined && lt > lf)
        problems.push(`${f} imports ${t}: a lower layer must not import a higher one`);
    }
  }
}
// Imports of other Stratus packages by name (madge follows relative imports only).
const ALLOWED_PACKAGES = {
  'packages/model/src': [],
  'packages/util/src': [],
  'packages/agent/src': ['@stratus/model', '@stratus/util'],
  'packages/sdk/src': ['@stratus/model', '@stratus/util'],
  'packages/provider/src': ['@stratus/model', '@stratus/util', '@stratus/sdk'],
};
for (const [dir, allowed] of Object.entries(ALLOWED_PACKAGES)) {
  for (const file of walkTs(resolve(root, dir))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:from\s+|import\s*\(\s*|import\s+)['"](@stratus\/[a-z-]+)(\/[^'"]*)?['"]/g,
    ))
      if (!allowed.includes(m[1]))
        problems.push(
          `${relative(root, file)} imports ${m[1]}${m[2] ?? ''}: ${dir} may import ${allowed.join(', ') || 'no Stratus package'}`,
        );
  }
}

// The model builds schemas with the bundled typebox runtime (scripts/bundle-typebox.ts): a value import
// of @sinclair/typebox would load its ~200 modules again in every process. Type imports are free.
for (const file of walkTs(resolve(root, 'packages/model/src'))) {
  for (const m of readFileSync(file, 'utf8').matchAll(
    /^import\s+(?!type\s)[^;]*?from\s+['"]@sinclair\/typebox['"]/gm,
  ))
    problems.push(
      `${relative(root, file)}: ${m[0].split('\n')[0]}: import Type from typebox.generated.js (import type is fine)`,
    );
}

// The sdk reads YAML with the bundled yaml runtime (scripts/bundle-yaml.ts), for the same reason.
for (const file of walkTs(resolve(root, 'packages/sdk/src'))) {
  for (const m of readFileSync(file, 'utf8').matchAll(/^import\s+(?!type\s)[^;]*?from\s+['"]yaml['"]/gm))
    problems.push(
      `${relative(root, file)}: ${m[0].split('\n')[0]}: import it from util/yaml.generated.js (import type is fine)`,
    );
}

for (const p of problems) console.log(p);
console.log(
  problems.length
    ? `check-layers: ${problems.length} problem(s)`
    : 'check-layers: no import circles, layering holds',
);
process.exit(problems.length ? 1 : 0);
