/**
 * @stratus/model: the Stratus resource model. One schema per resource type with per-attribute metadata,
 * the formats and validation every front end and the agent share, the one diff, the UNKNOWN marker,
 * attribute paths and the agent API's wire types. Pure: no I/O, no Node-only dependencies.
 */
export * from './check.js';
export * from './diff.js';
export * from './duration.js';
export * from './errors.js';
export * from './guest-path.js';
export * from './host-text.js';
export * from './ipv4.js';
export * from './meta.js';
export * from './path.js';
export * from './registry.js';
export * from './resource.js';
export * from './unattend.js';
export * from './unknown.js';
export { type SchemaError, validateInputs } from './validate.js';
export * from './variable.js';
export * from './wait.js';
export type * from './wire.js';
export { decodeOwner, encodeOwner, OWNER_HEADER } from './wire.js';
