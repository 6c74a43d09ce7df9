/** State documents and backends. */
export * from './local.js';
export * from './types.js';
