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
// The agent (packages/agent) may import @stratus/model and the sdk's client and util only.
// Exit 1 with one line per violation.
import { relative, resolve } from 'node:path';
import madge from 'madge';

const root = resolve(new URL('..', import.meta.url).pathname);
const SDK_LAYERS = [
  ['errors.ts', 'util', 'diagnostics'],
  ['client', 'state'],
  ['protocol'],
  ['engine'],
  ['constructs', 'loaders'],
  ['operations'],
  ['testing'],
  ['cli', 'index.ts'],
];
const AGENT_MAY_USE_SDK = ['client', 'util', 'errors.ts'];

/** The sdk layer of a file under packages/sdk/src, or -1 for the model package, undefined elsewhere. */
function layerOf(file) {
  if (file.startsWith('packages/model/src/')) return -1;
  const m = /^packages\/sdk\/src\/([^/]+)/.exec(file);
  if (!m) return undefined;
  const i = SDK_LAYERS.findIndex((names) => names.includes(m[1]));
  if (i < 0) throw new Error(`check-layers: ${file} is in no layer; add its folder to SDK_LAYERS`);
  return i;
}

const res = await madge(['packages/model/src', 'packages/sdk/src', 'packages/agent/src'], {
  baseDir: root,
  fileExtensions: ['ts'],
  tsConfig: resolve(root, 'tsconfig.base.json'),
  excludeRegExp: [/\.test\.ts$/, /\.test-support\.ts$/, /\/dist\//, /\.generated\.ts$/],
  detectiveOptions: { ts: { skipTypeImports: true }, es6: { skipTypeImports: true } },
});
const problems = [];
for (const c of res.circular()) problems.push(`import circle: ${c.join(' -> ')}`);
// Layering counts type imports too: a type is a dependency on the layer that defines it.
const all = await madge(['packages/model/src', 'packages/sdk/src', 'packages/agent/src'], {
  baseDir: root,
  fileExtensions: ['ts'],
  tsConfig: resolve(root, 'tsconfig.base.json'),
  excludeRegExp: [/\.test\.ts$/, /\.test-support\.ts$/, /\/dist\//, /\.generated\.ts$/],
});
for (const [from, deps] of Object.entries(all.obj())) {
  const f = relative(root, resolve(root, from));
  for (const d of deps) {
    const t = relative(root, resolve(root, d));
    if (f.startsWith('packages/model/') && !t.startsWith('packages/model/'))
      problems.push(`${f} imports ${t}: the model package imports nothing of Stratus`);
    else if (f.startsWith('packages/agent/') && t.startsWith('packages/sdk/')) {
      const folder = /^packages\/sdk\/src\/([^/]+)/.exec(t)?.[1];
      if (!AGENT_MAY_USE_SDK.includes(folder ?? ''))
        problems.push(`${f} imports ${t}: the agent may use only the sdk's ${AGENT_MAY_USE_SDK.join(', ')}`);
    } else {
      const lf = layerOf(f);
      const lt = layerOf(t);
      if (lf !== undefined && lt !== undefined && lt > lf)
        problems.push(`${f} imports ${t}: a lower layer must not import a higher one`);
    }
  }
}
for (const p of problems) console.log(p);
console.log(
  problems.length
    ? `check-layers: ${problems.length} problem(s)`
    : 'check-layers: no import circles, layering holds',
);
process.exit(problems.length ? 1 : 0);
