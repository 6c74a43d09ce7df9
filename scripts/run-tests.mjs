#!/usr/bin/env node
// Runs every test in the repository with node's test runner (TypeScript loaded by tsx) and prints its
// summary. Test files: packages/*/src/**/*.test.ts and tests/**/*.test.ts. Arguments narrow the set by
// substring, e.g. `npm test -- engine`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const files = [...walk(join(root, 'packages'), []), ...walk(join(root, 'tests'), [])]
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
// The spec reporter is for people; a TAP copy gives the totals for one plain closing line.
const tapFile = join(mkdtempSync(join(tmpdir(), 'stratus-tests-')), 'results.tap');
const res = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    '--test-concurrency=2',
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);
const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
const count = (k) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
console.log(
  `\n${count('pass')} passed, ${count('fail') + count('cancelled')} failed, ${count('skipped')} skipped`,
);
rmSync(dirname(tapFile), { recursive: true, force: true });
process.exit(res.status ?? 1);
