import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { AGENT_ENV, AGENT_NODE_OPTIONS, type LocalAgentPaths } from '@stratus/util';

/** Whether something accepts connections on the unix socket `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The stratus-agent entry point: STRATUS_AGENT_BIN, or the @stratus/agent package next to this one. */
export function agentEntry(): string {
  if (process.env.STRATUS_AGENT_BIN) return process.env.STRATUS_AGENT_BIN;
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('@stratus/agent')), 'main.js');
  } catch {
    throw new Error(
      'no stratus-agent is running and @stratus/agent is not installed; start stratus-agent on this host',
    );
  }
}

/**
 * Makes sure an agent answers on the local socket: when none does, starts the local agent daemon in
 * the background, tells the user where its log is, and waits until it answers.
 */
export async function ensureLocalAgent(paths: LocalAgentPaths, say: (msg: string) => void): Promise<void> {
  if (await socketAnswers(paths.socket)) return;
  const entry = agentEntry();
  mkdirSync(paths.stateDir, { recursive: true, mode: 0o711 });
  const log = openSync(paths.logFile, 'a', 0o600);
  const args = [...AGENT_NODE_OPTIONS, entry, '--state-dir', paths.stateDir, '--socket', paths.socket];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, ...AGENT_ENV },
  });
  child.unref();
  say(`No stratus-agent was running; started one (pid ${child.pid}). Its log: ${paths.logFile}`);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (existsSync(paths.tokenFile) && (await socketAnswers(paths.socket))) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`stratus-agent did not come up; see its log: ${paths.logFile}`);
}
