import { join } from 'node:path';

/** Where the local host's agent keeps its state, listens and keeps its token. One source for agent and CLI. */
export interface LocalAgentPaths {
  stateDir: string;
  socket: string;
  tokenFile: string;
  logFile: string;
}

/**
 * Paths of the local agent: `/var/lib/stratus-agent` and `/run/stratus-agent/agent.sock` unless
 * `STRATUS_AGENT_STATE_DIR` / `STRATUS_AGENT_SOCKET` say otherwise (tests run private agents that way).
 */
export function localAgentPaths(env: NodeJS.ProcessEnv = process.env): LocalAgentPaths {
  const stateDir = env.STRATUS_AGENT_STATE_DIR || '/var/lib/stratus-agent';
  return {
    stateDir,
    socket:
      env.STRATUS_AGENT_SOCKET ||
      (env.STRATUS_AGENT_STATE_DIR ? join(stateDir, 'agent.sock') : '/run/stratus-agent/agent.sock'),
    tokenFile: join(stateDir, 'token'),
    logFile: join(stateDir, 'agent.log'),
  };
}

/**
 * Node options the agent daemon runs with (the `stratus-agent` command's shebang says the same; keep
 * them equal). `--max-semi-space-size=1` (MiB): V8's young generation otherwise grows to 16 MiB per
 * semi-space under a burst of allocation (an image upload, ten creates at once) and keeps it, which was
 * most of the agent's growth from about 65 MB idle to over 80 MB after an apply; a daemon that mostly
 * waits on host commands does not need the larger nursery. `--lite-mode`: V8 without its optimizing
 * compilers and with feedback allocated lazily; the agent's own JavaScript is glue around host commands,
 * libvirt calls and native code (hashing, JSON), so this costs no measurable time but the optimized code,
 * the feedback and the compiler pages of the node binary it touched: about 8 MB of resident memory
 * both idle (60 -> 52 MB) and after ten creates (88-90 -> 78 MB; agent CPU time for those creates
 * within 6%, measured on a loaded 2-core host).
 */
export const AGENT_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=1', '--lite-mode'];

/**
 * Environment the agent daemon runs with (the `stratus-agent` command's shebang says the same).
 * `UV_THREADPOOL_SIZE=16`: the libvirt binding runs each call on libuv's thread pool, which file
 * operations share; with the default 4 threads, four domain starts in flight (seconds each under load)
 * stopped every record write, hosts-file update and config drive of the other creates until one
 * returned (seen in bench/apply: ten creates, nothing logged for 3 s). It must be set before the
 * process starts the pool, so on the command line, not by the agent itself.
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { UV_THREADPOOL_SIZE: '16' };
