/**
 * @stratus/sdk: the Stratus resource model, stack loaders, engine, state backends, resource handlers
 * and agent client. The `stratus` CLI is built on these.
 */
export * from './client/index.js';
export * from './constructs/index.js';
export * from './diagnostics/index.js';
export * from './engine/index.js';
export * from './errors.js';
export * from './handlers/index.js';
export * from './loaders/stack-yaml.js';
export * from './model/index.js';
export * from './state/index.js';
