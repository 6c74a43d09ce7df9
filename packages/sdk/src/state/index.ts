/** State documents and backends. */

export * from './check.js';
export * from './local.js';
export * from './postgres.js';
export * from './saved-plan-check.js';
export * from './types.js';
