/** Client for the stratus-agent HTTP API. */

export { type LocalAgentPaths, localAgentPaths } from '@stratus/util';
export * from './agent-client.js';
export * from './errors.js';
export * from './pool.js';
