/**
 * @stratus/sdk: what a Stratus user needs — stack constructs for TypeScript programs, stack loading,
 * the operations (plan, apply, destroy, saved plans), state backends, the agent client and the
 * diagnostics they report. The parts behind them have their own entry points: `@stratus/sdk/model`,
 * `/engine`, `/protocol`, `/operations`, `/client`, `/testing`.
 */
export * from './client/index.js';
export * from './constructs/index.js';
export * from './diagnostics/index.js';
export type { Action, Plan, ResourceChange } from './engine/plan.js';
export * from './errors.js';
export { loadProgram } from './loaders/program.js';
export * from './loaders/stack-yaml.js';
export * from './operations/index.js';
export { agentProviders } from './protocol/index.js';
export * from './state/index.js';
