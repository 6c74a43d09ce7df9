/** Client for the stratus-agent HTTP API. */
export * from './agent-client.js';
export * from './errors.js';
export * from './local.js';
export * from './pool.js';
