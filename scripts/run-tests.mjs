#!/usr/bin/env node
// Runs every test in the repository with node's test runner (TypeScript loaded by tsx, source maps on
// so failure locations are test source lines) and prints its summary: each test file's duration, then
// one closing line `N passed, N failed, N skipped`. Test files: packages/*/src/**/*.test.ts and
// tests/**/*.test.ts. Arguments narrow the set by substring, e.g. `npm test -- engine`.
// Files named *.exclusive.test.ts change what the whole machine shares (e.g. stop libvirtd): they run
// after all others, one at a time, with nothing beside them; the summary counts both phases.
// Order: longest first (longest-processing-time first), so no long file starts late and leaves one
// slot idle at the end. Durations come from scripts/test-durations.json (file -> seconds, as the last
// recorded full run measured them); a file not in it counts as long if it is an e2e file and short
// otherwise. `--record-durations` writes this run's durations back to it (files that ran replace their
// entries; entries of files that no longer exist are dropped).
// Agent logs never reach the report: tests/support/logs.ts, loaded into every test process, sends
// them to files in one log folder per run, named (with their last lines) in failure messages; the
// folder is kept when a test failed and removed otherwise.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const record = process.argv.includes('--record-durations');
const durationsFile = join(root, 'scripts/test-durations.json');
const known = existsSync(durationsFile) ? JSON.parse(readFileSync(durationsFile, 'utf8')) : {};
/** Seconds a file is expected to take: its recorded duration, or a guess by its kind. */
const expected = (f) => known[f] ?? (f.startsWith('tests/e2e/') ? 120 : 5);

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
  .sort()
  .sort((a, b) => expected(b) - expected(a));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
// The spec reporter is for people; scripts/test-durations.mjs gives file durations and the totals for
// one plain closing line. scripts/test-files-in-order.mjs runs the files in this order (node --test
// would sort them by name).
const work = mkdtempSync(join(tmpdir(), 'stratus-tests-'));
const logDir = mkdtempSync(join(tmpdir(), 'stratus-test-logs-'));
const started = Date.now();
/** Runs `list` with node's test runner, `concurrency` files at a time; returns the exit status and
 *  the summary the durations reporter wrote ({files, counts}). */
function runFiles(list, concurrency, phase) {
  const summaryFile = join(work, `summary-${phase}.json`);
  const res = spawnSync(
    process.execPath,
    [
      '--enable-source-maps',
      '--import',
      'tsx',
      '--import',
      join(root, 'tests/support/logs.ts'),
      join(root, 'scripts/test-files-in-order.mjs'),
      String(concurrency),
      ...list.map((f) => join(root, f)),
    ],
    {
      stdio: 'inherit',
      cwd: root,
      env: { ...process.env, STRATUS_TEST_LOG_DIR: logDir, STRATUS_TEST_SUMMARY: summaryFile },
    },
  );
  const summary = existsSync(summaryFile)
    ? JSON.parse(readFileSync(summaryFile, 'utf8'))
    : { files: {}, counts: {} };
  return { status: res.status ?? 1, summary };
}

const exclusive = files.filter((f) => f.endsWith('.exclusive.test.ts'));
const shared = files.filter((f) => !exclusive.includes(f));
const phases = [];
if (shared.length > 0) phases.push(runFiles(shared, 2, 'shared'));
if (exclusive.length > 0) {
  console.log(`\nAlone, after the others: ${exclusive.join(', ')}`);
  phases.push(runFiles(exclusive, 1, 'exclusive'));
}
const summary = { files: {}, counts: {} };
for (const p of phases) {
  Object.assign(summary.files, p.summary.files);
  for (const [k, v] of Object.entries(p.summary.counts)) summary.counts[k] = (summary.counts[k] ?? 0) + v;
}
const status = phases.every((p) => p.status === 0) ? 0 : 1;
const count = (k) => summary.counts[k] ?? 0;
console.log('\nTest files by duration:');
for (const [file, ms] of Object.entries(summary.files).sort((a, b) => b[1] - a[1]))
  console.log(`${(ms / 1000).toFixed(1).padStart(8)} s  ${relative(root, file)}`);
console.log(
  `${((Date.now() - started) / 1000).toFixed(1).padStart(8)} s  (whole run, 2 files at a time, then .exclusive files alone)`,
);
if (record) {
  const measured = Object.fromEntries(
    Object.entries(summary.files).map(([file, ms]) => [relative(root, file), Math.round(ms / 100) / 10]),
  );
  const all = new Set([...walk(join(root, 'packages'), []), ...walk(join(root, 'tests'), [])]);
  const merged = Object.entries({ ...known, ...measured })
    .filter(([f]) => all.has(f))
    .sort((a, b) => b[1] - a[1]);
  writeFileSync(durationsFile, `${JSON.stringify(Object.fromEntries(merged), null, 2)}\n`);
  console.log(`Durations recorded in ${relative(root, durationsFile)}`);
}
const failed = count('fail') + count('cancelled');
if (failed > 0 || status !== 0) console.log(`Agent logs of this run: ${logDir}`);
else rmSync(logDir, { recursive: true, force: true });
console.log(`\n${count('pass')} passed, ${failed} failed, ${count('skipped')} skipped`);
rmSync(work, { recursive: true, force: true });
process.exit(status);
