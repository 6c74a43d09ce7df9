// A node:test reporter for scripts/run-tests.mjs that prints nothing. It writes, as JSON, to the file
// STRATUS_TEST_SUMMARY names: `files`, per test file the wall time from its first to its last event
// (ms; hooks inside the file included), and `counts`, the run's closing totals (tests, pass, fail,
// cancelled, skipped, todo) as the runner reports them.
import { writeFileSync } from 'node:fs';
import { Transform } from 'node:stream';

const files = new Map();
const counts = {};

export default new Transform({
  writableObjectMode: true,
  transform(event, _encoding, done) {
    const file = event.data?.file;
    if (file) {
      const now = Date.now();
      const f = files.get(file) ?? { first: now, last: now };
      f.last = now;
      files.set(file, f);
    }
    if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      const m = /^(tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(event.data.message);
      if (m) counts[m[1]] = Number(m[2]);
    }
    done();
  },
  flush(done) {
    const durations = Object.fromEntries([...files].map(([file, f]) => [file, f.last - f.first]));
    if (process.env.STRATUS_TEST_SUMMARY)
      writeFileSync(process.env.STRATUS_TEST_SUMMARY, JSON.stringify({ files: durations, counts }));
    done();
  },
});
