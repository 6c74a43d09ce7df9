/**
 * The worker thread of the Heat fuzz test (fuzz.test.ts): loads each template text it is sent (with
 * the environment file named in its workerData) and answers with the diagnostics and the load's own
 * time in milliseconds, or the exception when the loader threw. Loads run here so the test's thread
 * can stop one that never ends (terminate the worker) and go on: a hang is an event the test records,
 * not a test that never finishes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadedDiagnostics } from '../validate.test-support.js';
import { loadHeatText } from './load.js';

/** What the test sends: one template text to load. */
export interface FuzzRequest {
  text: string;
}

/** The answer: the diagnostics and the load's time (ms), or the exception the loader threw. */
export type FuzzReply = { items: ReturnType<typeof loadedDiagnostics>; ms: number } | { crash: string };

const { file, env } = workerData as { file: string; env: string };
const port = parentPort!;
port.on('message', ({ text }: FuzzRequest) => {
  const start = performance.now();
  let reply: FuzzReply;
  try {
    const items = loadedDiagnostics(loadHeatText(text, file, { environments: [env] }));
    reply = { items, ms: performance.now() - start };
  } catch (e) {
    reply = { crash: (e as Error).stack ?? String(e) };
  }
  port.postMessage(reply);
});
// Imports are done: the test starts its watchdog only from here on.
port.postMessage('ready');
