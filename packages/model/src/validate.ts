import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { META_KEYWORDS } from './meta.js';
import { type ResourceType, schemas } from './registry.js';

/** A schema violation at a path inside a resource's attributes. */
export interface SchemaError {
  path: (string | number)[];
  message: string;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictTypes: false, verbose: true });
for (const k of [...META_KEYWORDS, 'formatName'])
  ajv.addKeyword({ keyword: k, schemaType: ['boolean', 'string'] });

const inputValidators = new Map<ResourceType, ValidateFunction>();

function validatorFor(type: ResourceType): ValidateFunction {
  let v = inputValidators.get(type);
  if (!v) {
    v = ajv.compile(schemas[type].inputs);
    inputValidators.set(type, v);
  }
  return v;
}

function pathOf(e: ErrorObject): (string | number)[] {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  if (e.keyword === 'required') parts.push((e.params as { missingProperty: string }).missingProperty);
  if (e.keyword === 'additionalProperties')
    parts.push((e.params as { additionalProperty: string }).additionalProperty);
  return parts;
}

function messageOf(e: ErrorObject): string {
  const schema = e.parentSchema as { formatName?: string } | undefined;
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a known attribute';
    case 'pattern':
      return schema?.formatName ? `must be ${schema.formatName}` : (e.message ?? 'is invalid');
    case 'anyOf':
      return 'must be one of the allowed values';
    case 'const':
      return `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return e.message ?? 'is invalid';
  }
}

/**
 * Validates a resource's input attributes against its schema and fills in defaults (mutating `value`).
 * Returns every violation, not just the first.
 */
export function validateInputs(type: ResourceType, value: unknown): SchemaError[] {
  const v = validatorFor(type);
  if (v(value)) return [];
  const seen = new Set<string>();
  const out: SchemaError[] = [];
  const errors = v.errors ?? [];
  // A union of literals reports one `const` error per branch plus an `anyOf`; keep the `anyOf` only.
  const unionPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword === 'const' && unionPaths.has(e.instancePath)) continue;
    const err = { path: pathOf(e), message: messageOf(e) };
    const key = JSON.stringify(err);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(err);
    }
  }
  return out;
}
