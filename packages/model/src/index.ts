/** The Stratus resource model: one schema per resource type, with per-attribute metadata. */

export * from './errors.js';
export * from './ipv4.js';
export * from './meta.js';
export * from './registry.js';
export * from './resource.js';
export { formatPath, type SchemaError, validateInputs } from './validate.js';
