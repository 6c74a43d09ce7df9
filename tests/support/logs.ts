/**
 * Keeps agent logs out of the test report. Loaded into every test process (scripts/run-tests.mjs
 * passes it with `--import`; tests/e2e/helpers.ts imports it too): the in-process agent logger of
 * this test file writes to a file of its own, agents the tests start write
 * to files registered with {@link agentLogFile}, and a failing test's error message names those
 * files and ends with their last lines. The files live in STRATUS_TEST_LOG_DIR (run-tests makes one
 * per run, keeps it when a test failed and removes it otherwise) or in a fixed folder under the
 * system temp dir.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterEach } from 'node:test';
import { setLogFile } from '../../packages/agent/src/host/log.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TAIL_LINES = 15;
const TAIL_LINE_CHARS = 400;

/** The folder this run's agent logs go to. */
export const LOG_DIR = process.env.STRATUS_TEST_LOG_DIR || join(tmpdir(), 'stratus-test-logs');

const testFile = process.argv[1] && /\.test\.[cm]?[jt]s$/.test(process.argv[1]) ? process.argv[1] : null;
const stem = testFile ? relative(ROOT, testFile).replace(/[/\\]/g, '_') : `process-${process.pid}`;
const logs: string[] = [];

/**
 * A new log file for an agent this test file starts (`label` tells them apart); failures of this
 * file's tests name it.
 */
export function agentLogFile(label: string): string {
  mkdirSync(LOG_DIR, { recursive: true });
  const path = join(LOG_DIR, `${stem}.${label}.${logs.length}.log`);
  logs.push(path);
  return path;
}

function tail(path: string): string {
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n').slice(-TAIL_LINES);
  return lines.map((l) => (l.length > TAIL_LINE_CHARS ? `${l.slice(0, TAIL_LINE_CHARS)}…` : l)).join('\n');
}

/**
 * The note added to a failing test's message: the paths of the non-empty logs, and the last lines of
 * the newest two (a test that restarts agents has many).
 */
export function logNote(): string {
  const used = logs.filter((path) => existsSync(path) && readFileSync(path).length > 0);
  const parts = used.map((path, i) =>
    i < used.length - 2 ? `agent log ${path}` : `agent log ${path} (last lines):\n${tail(path)}`,
  );
  return parts.length ? `\n${parts.join('\n')}` : '';
}

const annotated = new WeakSet<Error>();

if (testFile) {
  // The in-process agent code of this test file (services, drivers) logs to this file, not stderr.
  // Not through STRATUS_AGENT_LOG_FILE: processes the tests start would inherit it, and an agent the
  // CLI starts must keep writing its own log (tests read it).
  setLogFile(agentLogFile('in-process'));
  afterEach((ctx) => {
    // Node 20.18+ has these on the test context; this @types/node does not declare them yet.
    const t = ctx as unknown as { passed: boolean; error: (Error & { cause?: unknown }) | null };
    if (t.passed) return;
    const err = t.error;
    const e = err?.cause instanceof Error ? err.cause : err;
    if (!(e instanceof Error) || annotated.has(e)) return;
    annotated.add(e);
    const note = logNote();
    if (!note) return;
    e.message += note;
    if (e.stack) {
      const at = e.stack.search(/\n\s+at /);
      e.stack = at < 0 ? e.stack + note : e.stack.slice(0, at) + note + e.stack.slice(at);
    }
  });
}
