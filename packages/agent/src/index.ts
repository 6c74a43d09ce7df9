/** @stratus/agent: the per-host daemon. `stratus-agent` (main.js) runs it; this module embeds it. */
export { type AgentOptions, StratusAgent } from './agent.js';
export {
  AgentError,
  Conflict,
  HostFailure,
  InUse,
  InvalidReference,
  InvalidRequest,
  NotFound,
  PoolExhausted,
  RequiresReplace,
  Unavailable,
} from './errors.js';
