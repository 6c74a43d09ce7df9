// Runs test files with node's test runner in the order given, N at a time, for scripts/run-tests.mjs.
// `node --test FILE...` sorts its files by name (Node 20); the run() API keeps the order, so the runner
// can start the longest files first. Arguments: the concurrency, then the files. Test processes get this
// process's flags (node's runner passes process.execArgv on: --import tsx and the log setup). Reports:
// the spec reporter to stdout, and scripts/test-durations.mjs (file durations and totals to the file
// STRATUS_TEST_SUMMARY names). Exits 1 when a test failed or was cancelled, or a file failed to run.
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import durations from './test-durations.mjs';

const [concurrency, ...files] = process.argv.slice(2);
let failed = false;
const stream = run({ files, concurrency: Number(concurrency) });
stream.on('test:fail', (data) => {
  // A failing todo test does not fail the run (as with `node --test`).
  if (!data.todo) failed = true;
});
stream.compose(new spec()).pipe(process.stdout);
stream.pipe(durations);
// The summary file is written when the durations reporter ends, before this process exits.
durations.on('finish', () => {
  process.exitCode = failed ? 1 : 0;
});
durations.resume?.();
