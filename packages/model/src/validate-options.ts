import type { Ajv, Options } from 'ajv';
import { AJV_FORMATS } from './formats.js';
import { MESSAGE_KEYWORDS, META_KEYWORDS } from './meta.js';

/**
 * The ajv options the input validators are made with (ahead of time by scripts/generate-validators.ts,
 * or at run time for a schema that has none): every error (not just the first), defaults filled in,
 * strict schemas, and errors that carry their schema and data (messages use a pattern's `formatName`
 * and a format's own explanation).
 */
export const AJV_OPTIONS: Options = {
  allErrors: true,
  useDefaults: true,
  strict: true,
  strictTypes: false,
  verbose: true,
};

/** Teaches `ajv` the model's annotation keywords (attribute metadata) and string formats. */
export function configureAjv(ajv: Ajv): Ajv {
  for (const k of [...META_KEYWORDS, ...MESSAGE_KEYWORDS])
    ajv.addKeyword({ keyword: k, schemaType: ['boolean', 'string'] });
  for (const [name, def] of Object.entries(AJV_FORMATS)) ajv.addFormat(name, def);
  return ajv;
}
