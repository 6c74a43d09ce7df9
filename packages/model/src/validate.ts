import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { STRING_FORMATS } from './formats.js';
import { textProblem } from './host-text.js';
import { type ResourceType, schemas } from './registry.js';
import { AJV_OPTIONS, configureAjv } from './validate-options.js';
import { VALIDATOR_SOURCES, VALIDATORS } from './validators.generated.js';

/** A schema violation at a path inside a resource's attributes. */
export interface SchemaError {
  path: (string | number)[];
  message: string;
}

const inputValidators = new Map<ResourceType, ValidateFunction>();
let runtimeAjv: Ajv | undefined;

/**
 * Compiles a schema now, for a type without a validator generated from the same schema: one
 * registered at run time (tests do), or a schema edited since the last build. ajv's compiler (64
 * modules) is loaded only then, synchronously through Node's require; elsewhere this throws.
 */
function compileNow(type: ResourceType): ValidateFunction {
  if (!runtimeAjv) {
    // The model has no Node types: only the two calls used are described.
    type NodeModule = { createRequire(url: string): (id: string) => unknown };
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = proc?.getBuiltinModule?.('module') as NodeModule | undefined;
    const url = (import.meta as { url?: string }).url;
    if (!mod || !url)
      throw new Error(
        `no input validator of ${type} was generated from its schema: run \`npm run build\` (scripts/generate-validators.ts)`,
      );
    const { Ajv: AjvClass } = mod.createRequire(url)('ajv') as typeof import('ajv');
    runtimeAjv = configureAjv(new AjvClass(AJV_OPTIONS));
  }
  return runtimeAjv.compile(schemas[type].inputs);
}

/**
 * The input validator of a type: the one generated ahead of time by ajv from the type's schema
 * (scripts/generate-validators.ts, run by the build), so no JSON Schema is compiled at run time; when
 * none was generated from the schema as it is now, one compiled now (see {@link compileNow}).
 */
function validatorFor(type: ResourceType): ValidateFunction {
  let v = inputValidators.get(type);
  if (!v) {
    const generated = VALIDATORS[type];
    v =
      generated && VALIDATOR_SOURCES[type] === JSON.stringify(schemas[type].inputs)
        ? generated
        : compileNow(type);
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
  const schema = e.parentSchema as
    | { formatName?: string; keyFormatName?: string; patternProperties?: Record<string, unknown> }
    | undefined;
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      // A map whose keys have a pattern (personality, metadata...): the key is not a valid one, rather
      // than an unknown attribute.
      if (schema?.patternProperties) {
        const pattern = Object.keys(schema.patternProperties)[0];
        return schema.keyFormatName
          ? `is not a valid key: must be ${schema.keyFormatName}`
          : `is not a valid key: must match ${pattern}`;
      }
      return 'is not a known attribute';
    case 'pattern':
      return schema?.formatName ? `must be ${schema.formatName}` : (e.message ?? 'is invalid');
    case 'anyOf':
      return 'must be one of the allowed values';
    case 'format': {
      const problem = STRING_FORMATS[(e.params as { format: string }).format];
      return (typeof e.data === 'string' && problem?.(e.data)) || (e.message ?? 'is invalid');
    }
    case 'const':
      return `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return e.message ?? 'is invalid';
  }
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Every string below `v` that has no UTF-8 form, with its path (the agent writes them to files). A value
 * that contains itself (a program can build one) is walked once; the schema reports what is wrong with it.
 */
function illFormedStrings(
  v: unknown,
  path: (string | number)[],
  out: SchemaError[],
  onPath = new Set<object>(),
): void {
  if (typeof v === 'string') {
    const p = textProblem(v);
    if (p) out.push({ path, message: p });
    return;
  }
  if (v === null || typeof v !== 'object' || onPath.has(v)) return;
  onPath.add(v);
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) illFormedStrings(x, [...path, i], out, onPath);
  } else {
    for (const [k, x] of Object.entries(v)) {
      const p = textProblem(k);
      if (p) out.push({ path: [...path, k], message: `its key ${p}` });
      illFormedStrings(x, [...path, k], out, onPath);
    }
  }
  onPath.delete(v);
}

/**
 * Validates a resource's input attributes against its schema and fills in defaults (mutating `value`).
 * Returns every violation, not just the first: schema violations and strings without a UTF-8 form. The
 * type's own rules (its schema's `check`) are added by `validateResource` and the provider protocol.
 */
export function validateInputs(type: ResourceType, value: unknown): SchemaError[] {
  const v = validatorFor(type);
  const ok = v(value);
  const extra: SchemaError[] = [];
  if (isObj(value)) {
    illFormedStrings(value, [], extra);
  }
  if (ok) return extra;
  const seen = new Set<string>(extra.map((e) => JSON.stringify(e)));
  const out: SchemaError[] = [...extra];
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
