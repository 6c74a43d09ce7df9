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
