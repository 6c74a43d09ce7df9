/** State documents and backends. */
export * from './local.js';
export * from './postgres.js';
export * from './types.js';
