/** Stratus' coded error base (defined in @stratus/model, which every package depends on). */
// The subpath, not the package root: the CLI's error handling loads this at start (no schemas, no ajv).
export { CodedError } from '@stratus/model/errors';
