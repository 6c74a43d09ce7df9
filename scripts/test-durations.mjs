// A node:test reporter for scripts/run-tests.mjs that prints nothing. It writes, as JSON, to the file
// STRATUS_TEST_SUMMARY names: `files`, per test file the wall time its process ran (ms; hooks and
// start-up included), and `counts`, the run's closing totals (tests, pass, fail,
// cancelled, skipped, todo) as the runner reports them.
import { writeFileSync } from 'node:fs';
import { Transform } from 'node:stream';

const files = new Map();
const counts = {};

export default new Transform({
  writableObjectMode: true,
  transform(event, _encoding, done) {
    // Each file runs in a child process, reported as a test named by the file's path: dequeued when
    // the child starts, complete when it ends (its own events may arrive in one batch later).
    const data = event.data ?? {};
    if (data.file && data.name === data.file) {
      if (event.type === 'test:dequeue') files.set(data.file, { start: Date.now() });
      if (event.type === 'test:complete') {
        const f = files.get(data.file) ?? { start: Date.now() };
        f.ms = data.details?.duration_ms ?? Date.now() - f.start;
        files.set(data.file, f);
      }
    }
    if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      const m = /^(tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(event.data.message);
      if (m) counts[m[1]] = Number(m[2]);
    }
    done();
  },
  flush(done) {
    const durations = Object.fromEntries([...files].map(([file, f]) => [file, f.ms ?? Date.now() - f.start]));
    if (process.env.STRATUS_TEST_SUMMARY)
      writeFileSync(process.env.STRATUS_TEST_SUMMARY, JSON.stringify({ files: durations, counts }));
    done();
  },
});
