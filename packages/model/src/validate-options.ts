import type { Options } from 'ajv';

/**
 * The ajv options the input validators are generated with (scripts/generate-validators.ts): every error
 * (not just the first), defaults filled in, strict schemas, and errors that carry their schema and data
 * (messages use a pattern's `formatName` and a format's own explanation).
 */
export const AJV_OPTIONS: Options = {
  allErrors: true,
  useDefaults: true,
  strict: true,
  strictTypes: false,
  verbose: true,
};
