/**
 * The JSON Schema of stack files, generated from the resource registry: each type's inputs (with their
 * descriptions, defaults, formats and what changing them does), `lifecycle`, `timeouts` (with the type's
 * defaults), `dependsOn`, `outputs` and `backend`. Draft-07, which YAML language servers read:
 * `# yaml-language-server: $schema=./stratus.schema.json`.
 *
 * A schema can check shapes, formats and required fields; references between resources, dependency
 * cycles and a type's own rules (a pool inside its subnet) are checked by `stratus validate`.
 */
import {
  attributes,
  MESSAGE_KEYWORDS,
  META_KEYWORDS,
  type ResourceType,
  resourceTypes,
  schemas,
  timeoutsOf,
} from '@stratus/model';

type Json = Record<string, unknown>;

/** Keywords of the registry's schemas that are Stratus metadata, not JSON Schema. */
const NOT_JSON_SCHEMA = new Set<string>([...META_KEYWORDS, ...MESSAGE_KEYWORDS]);

/** A string holding a `${...}` reference; stands for a value of any type until it is resolved. */
const REFERENCE: Json = {
  type: 'string',
  pattern: '\\$\\{[^}]+\\}',
  description:
    'An expression: ${name} is the id of resource name, ${name.attribute} one of its attributes; ${var.NAME}, ${local.NAME}, ${count.index}, ${each.key}, ${each.value}, functions such as ${format("web-%d", count.index)}.',
};

/** A variable's declaration (Terraform's variable block). */
const VARIABLE: Json = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: {
      type: 'string',
      pattern: '^\\s*(string|number|bool|any|(list|map)\\(.*\\))\\s*$',
      description: 'string, number, bool, list(T), map(T) or any (default any).',
    },
    default: { description: 'The value when none is given; without one the variable is required.' },
    description: { type: 'string', description: 'Shown when the value is asked for.' },
    sensitive: {
      type: 'boolean',
      description: 'Never shown: not in plans, outputs or errors; values made from it are sensitive too.',
    },
    validation: {
      description: 'Rules the value must meet: one, or a list.',
      anyOf: [
        { $ref: '#/definitions/variableValidation' },
        { type: 'array', items: { $ref: '#/definitions/variableValidation' } },
      ],
    },
  },
};

/** One validation rule of a variable. */
const VALIDATION: Json = {
  type: 'object',
  additionalProperties: false,
  required: ['condition'],
  properties: {
    condition: {
      type: 'string',
      description: 'An expression of var.NAME that must be true, e.g. length(var.name) <= 20.',
    },
    error_message: { type: 'string', description: 'The error when the condition is false.' },
    errorMessage: { type: 'string', description: 'Same as error_message.' },
  },
};

/** Same pattern as the stack loader's resource names. */
const NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_-]*$';

const DURATION: Json = {
  type: 'string',
  // Terraform's forms, compound ones included; validate bounds the total (at most 24h).
  pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$',
  description: 'A duration such as 30s, 10m, 1h or 1h30m (at most 24h).',
};

/** An attribute schema as plain JSON Schema: metadata keywords dropped, references allowed at every level. */
function plain(schema: unknown): Json {
  const s = JSON.parse(JSON.stringify(schema)) as Json;
  const walk = (node: Json): Json => {
    const outNode: Json = {};
    for (const [k, v] of Object.entries(node)) {
      if (NOT_JSON_SCHEMA.has(k)) continue;
      // Stratus' own string formats (host names dnsmasq takes, one-line keys, ...) are checked by
      // validate; editors know no such format, so the schema leaves them out.
      if (k === 'format' && typeof v === 'string' && v.startsWith('stratus-')) continue;
      if ((k === 'properties' || k === 'patternProperties') && v && typeof v === 'object')
        outNode[k] = Object.fromEntries(Object.entries(v as Json).map(([p, x]) => [p, walk(x as Json)]));
      else if (
        (k === 'items' || k === 'additionalProperties') &&
        v &&
        typeof v === 'object' &&
        !Array.isArray(v)
      )
        outNode[k] = walk(v as Json);
      else if ((k === 'anyOf' || k === 'oneOf' || k === 'allOf') && Array.isArray(v))
        outNode[k] = v.map((x) => walk(x as Json));
      else outNode[k] = v;
    }
    const { description, default: dflt, ...rest } = outNode;
    return {
      ...(description !== undefined ? { description } : {}),
      ...(dflt !== undefined ? { default: dflt } : {}),
      anyOf: [rest, REFERENCE],
    };
  };
  return walk(s);
}

/** What an attribute's metadata means for the user, appended to its description. */
function notes(a: ReturnType<typeof attributes>[number]): string {
  const n: string[] = [];
  if (a.required && a.default === undefined) n.push('Required.');
  if (a.default !== undefined) n.push(`Default: ${JSON.stringify(a.default)}.`);
  if (a.ref) n.push(`The id of a ${a.ref}: write \${name} of one.`);
  if (a.requiresReplace) n.push('Changing it replaces the resource.');
  else if (a.updatableLive) n.push('Changed in place, without disturbing the resource.');
  if (a.computed) n.push('Computed when left out.');
  if (a.sensitive) n.push('Sensitive: redacted in plans, show and logs.');
  if (a.localPath) n.push('A path on the machine running stratus, relative to the stack file.');
  return n.join(' ');
}

function resourceSchema(type: ResourceType): Json {
  const schema = schemas[type];
  const attrs = attributes(schema);
  const inputs = attrs.filter((a) => a.input);
  const outputsList = attrs.filter((a) => !a.input).map((a) => a.name);
  // What the user must write: required, with no default, and not the name (it defaults to the resource's).
  const required = inputs
    .filter((a) => a.required && a.default === undefined && a.name !== 'name')
    .map((a) => a.name);
  const properties: Json = {};
  for (const a of inputs) {
    const p = plain(a.schema);
    properties[a.name] = { ...p, description: [a.description, notes(a)].filter(Boolean).join(' ') };
  }
  const t = timeoutsOf(schema);
  const timeout = (op: keyof typeof t) => ({
    ...DURATION,
    description: `Time limit of ${op} (default ${t[op] / 60_000}m).`,
  });
  return {
    type: 'object',
    description: schema.description,
    additionalProperties: false,
    required: required.length ? ['type', 'properties'] : ['type'],
    properties: {
      type: { const: type, description: schema.description },
      description: { type: 'string', description: 'What this resource is for.' },
      properties: {
        type: 'object',
        description: `Inputs of the ${type}. Attributes set by Stratus (${outputsList.join(', ') || 'none'}) are read with \${name.attribute}.`,
        additionalProperties: false,
        required,
        properties,
      },
      count: {
        description:
          'Make this many instances, addressed name[0], name[1], ...; ${count.index} is the instance number. Known before apply: variables, locals and functions only.',
        anyOf: [{ type: 'integer', minimum: 0 }, REFERENCE],
      },
      forEach: {
        description:
          'Make one instance per key of a map (or string of a list), addressed name["key"]; ${each.key} and ${each.value} name it. Known before apply.',
        anyOf: [{ type: 'object' }, { type: 'array', items: { type: 'string' } }, REFERENCE],
      },
      dependsOn: {
        type: 'array',
        description: 'Resources to apply before this one (beyond those it references).',
        items: { type: 'string', pattern: NAME_PATTERN },
      },
      lifecycle: {
        type: 'object',
        description: 'How changes to this resource are made (as Terraform lifecycle).',
        additionalProperties: false,
        properties: {
          createBeforeDestroy: { type: 'boolean', description: 'When replacing, create the new one first.' },
          preventDestroy: { type: 'boolean', description: 'Refuse any plan that destroys it.' },
          ignoreChanges: {
            type: 'array',
            description: 'Inputs whose changes are ignored after create.',
            items: { enum: inputs.map((a) => a.name) },
          },
        },
      },
      timeouts: {
        type: 'object',
        description: 'Time limits of operations on this resource.',
        additionalProperties: false,
        properties: { create: timeout('create'), update: timeout('update'), delete: timeout('delete') },
      },
    },
  };
}

/** The JSON Schema (draft-07) of stack files, generated from the registry. */
export function stackSchema(): Json {
  const definitions: Json = {};
  for (const t of resourceTypes) definitions[t] = resourceSchema(t);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://stratus.dev/schema/stack.json',
    title: 'Stratus stack file',
    description: 'A Stratus stack: resources by name, outputs and the state backend.',
    type: 'object',
    additionalProperties: false,
    required: ['resources'],
    definitions: { ...definitions, variable: VARIABLE, variableValidation: VALIDATION },
    properties: {
      name: { type: 'string', description: 'Name of the stack (default: its directory name).' },
      description: { type: 'string', description: 'What the stack is for.' },
      variables: {
        type: 'object',
        description:
          'Input variables by name, read as ${var.NAME}; values from -var, -var-file, STRATUS_VAR_NAME or a prompt.',
        propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        additionalProperties: { anyOf: [{ $ref: '#/definitions/variable' }, { type: 'null' }] },
      },
      locals: {
        type: 'object',
        description: 'Named values computed once, read as ${local.NAME}.',
        propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
      },
      resources: {
        type: 'object',
        description: 'Resources by name.',
        propertyNames: { pattern: NAME_PATTERN },
        additionalProperties: {
          type: 'object',
          required: ['type'],
          properties: { type: { enum: [...resourceTypes], description: 'The resource type.' } },
          allOf: resourceTypes.map((t) => ({
            if: { properties: { type: { const: t } }, required: ['type'] },
            // biome-ignore lint/suspicious/noThenProperty: `then` is JSON Schema's keyword.
            then: { $ref: `#/definitions/${t}` },
          })),
        },
      },
      outputs: {
        type: 'object',
        description:
          'Output values by name: a value (references allowed), or {value, sensitive, description}.',
        additionalProperties: {
          anyOf: [
            {
              type: 'object',
              additionalProperties: false,
              required: ['value'],
              properties: {
                value: { description: 'The value; strings may hold ${name.attribute} references.' },
                sensitive: { type: 'boolean', description: 'Redact the value in output and show.' },
                description: { type: 'string' },
              },
            },
            { not: { type: 'object' } },
          ],
        },
      },
      backend: {
        description: 'Where state is kept (default: stratus.state.json beside the stack file).',
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['type'],
            properties: {
              type: { const: 'local' },
              path: { type: 'string', description: 'State file, relative to the stack file.' },
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['type'],
            properties: {
              type: { const: 'postgres' },
              url: { type: 'string', description: 'postgres://... (default: STRATUS_BACKEND_URL).' },
              schema: { type: 'string', description: 'Database schema holding the state tables.' },
            },
          },
        ],
      },
    },
  };
}
