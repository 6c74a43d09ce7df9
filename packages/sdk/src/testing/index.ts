/** Test helpers: plan and apply stacks with no hosts. */
export * from './memory-handlers.js';
export * from './plan-stack.js';
