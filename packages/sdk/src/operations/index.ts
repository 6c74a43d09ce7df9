/** The operations layer: lock -> refresh -> plan -> approve -> apply -> save, and saved plans. */
export * from './run.js';
export * from './saved-plan.js';
