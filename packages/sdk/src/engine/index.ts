/** The engine: configuration checks, dependency graph, plan and apply. */
export * from './apply.js';
export * from './check.js';
export * from './config.js';
export * from './deferred.js';
export * from './expr.js';
export * from './graph.js';
export * from './normalize.js';
export * from './operations.js';
export * from './plan.js';
export * from './refresh.js';
export * from './values.js';
