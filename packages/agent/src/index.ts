/** @stratus/agent: the per-host daemon. `stratus-agent` (main.js) runs it; this module embeds it. */
export { type AgentOptions, StratusAgent } from './agent.js';
export { ApiError } from './api/errors.js';
