/**
 * The JSON Schema of stack files (`stratus schema`): valid draft-07 (ajv, strict), every example stack
 * in the repository validates against it, the bad-input fixtures a schema can see are rejected, and its
 * keys are exactly the stack loader's (so a key added to the loader fails here until the schema has it).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { attributes, resourceTypes, schemas } from '@stratus/model';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { loadStackText } from '../loaders/stack-yaml.js';
import { CASES, GOOD } from './bad-stacks.test-support.js';
import { stackSchema } from './schema.js';
import { runCli } from './testing.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const schema = stackSchema();
const validate = new Ajv({ strict: true, allErrors: true }).compile(schema);
const check = (yaml: string) => {
  const ok = validate(parse(yaml));
  return { ok, errors: JSON.stringify(validate.errors, null, 1) };
};

/** Every stack.yaml under examples/. */
function exampleStacks(dir = join(repo, 'examples'), out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) exampleStacks(p, out);
    else if (/^stack\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

describe('the JSON Schema of stack files', () => {
  test('every example stack in the repository validates', () => {
    const files = exampleStacks();
    assert.ok(files.length > 0, 'there are examples');
    for (const f of files) {
      const r = check(readFileSync(f, 'utf8'));
      assert.ok(r.ok, `${relative(repo, f)}: ${r.errors}`);
    }
    assert.ok(check(GOOD).ok, check(GOOD).errors);
  });

  describe('the bad-input fixtures', () => {
    for (const c of CASES)
      test(`${c.name}: ${c.schema ? 'rejected' : 'beyond a schema (only stratus validate finds it)'}`, () => {
        assert.equal(check(c.yaml).ok, !c.schema, check(c.yaml).errors);
      });
  });

  const BAD: [string, string][] = [
    ['an unknown top-level key', `${GOOD}variablez: {}\n`],
    ['an unknown resource key', GOOD.replace('    type: network\n', '    type: network\n    replicas: 2\n')],
    [
      'an unknown property',
      GOOD.replace('    type: network\n', '    type: network\n    properties: { mtuu: 1500 }\n'),
    ],
    [
      'an attribute Stratus computes',
      GOOD.replace('      image: ${img}\n', '      image: ${img}\n      status: ACTIVE\n'),
    ],
    [
      'a property of the wrong type',
      GOOD.replace('    type: network\n', '    type: network\n    properties: { mtu: big }\n'),
    ],
    [
      'a malformed timeout',
      GOOD.replace('    type: network\n', '    type: network\n    timeouts: { create: 10 minutes }\n'),
    ],
    [
      'ignoreChanges naming no input',
      GOOD.replace('    type: network\n', '    type: network\n    lifecycle: { ignoreChanges: [bridge] }\n'),
    ],
    ['an unknown backend', `${GOOD}backend: { type: ftp }\n`],
    ['a resource name with a dot', GOOD.replace('  net:\n', '  net.x:\n')],
  ];
  for (const [name, yaml] of BAD)
    test(`rejects ${name}`, () => {
      assert.equal(check(yaml).ok, false);
      // The loader agrees: the same text is an error for stratus validate too.
      assert.ok(loadStackText(yaml, '/x/stack.yaml').diagnostics.hasErrors, `${name}: the loader accepts it`);
    });

  test('accepts references anywhere a value goes, lifecycle, timeouts, dependsOn, outputs and backends', () => {
    const yaml = `${GOOD.replace(
      '    type: network\n',
      '    type: network\n    description: the net\n    dependsOn: [img]\n    lifecycle: { createBeforeDestroy: true, ignoreChanges: [mtu] }\n    timeouts: { create: 90s, delete: 1h }\n    properties: { mtu: "${img.size}" }\n',
    )}outputs:\n  ip: \${web.accessIpV4}\n  secret: { value: "\${web.adminPass}", sensitive: true, description: x }\nbackend: { type: postgres, schema: s }\n`;
    const r = check(yaml);
    assert.ok(r.ok, r.errors);
  });

  test('accepts variables, locals, count and forEach', () => {
    const yaml = `variables:\n  n: { type: number, default: 2, description: servers, validation: [{ condition: "var.n < 5", error_message: too many }] }\n  pw: { type: string, sensitive: true }\n  any:\nlocals:\n  nets: { a: 1, b: 2 }\n${GOOD.replace(
      '    type: network\n',
      '    type: network\n    forEach: ${local.nets}\n    properties: { mtu: 1500 }\n',
    ).replace('    type: server\n', '    type: server\n    count: ${var.n}\n')}`;
    const r = check(yaml);
    assert.ok(r.ok, r.errors);
    assert.equal(check(GOOD.replace('    type: server\n', '    type: server\n    count: -1\n')).ok, false);
  });

  test("its keys are the loader's, and every input of every type is described", () => {
    const keysIn = (yaml: string, where: RegExp) => {
      const d = loadStackText(yaml, '/x/stack.yaml').diagnostics.items.find((x) => where.test(x.field ?? ''));
      return /expected one of (.*)$/.exec(d!.message)![1]!.split(', ').sort();
    };
    assert.deepEqual(Object.keys(schema.properties as object).sort(), keysIn(`zzz: 1\n${GOOD}`, /^zzz$/));
    const resource = (schema.definitions as Record<string, { properties: object }>).network!;
    assert.deepEqual(
      Object.keys(resource.properties).sort(),
      keysIn(GOOD.replace('    type: network\n', '    type: network\n    zzz: 1\n'), /\.zzz$/),
    );
    const defs = schema.definitions as Record<string, { properties: object }>;
    assert.deepEqual(
      Object.keys(defs.variable!.properties).sort(),
      keysIn(`variables:\n  v: { zzz: 1 }\n${GOOD}`, /^variables\.v\.zzz$/),
    );
    assert.deepEqual(
      Object.keys(defs.variableValidation!.properties).sort(),
      keysIn(
        `variables:\n  v: { validation: { condition: "true", error_message: x, zzz: 1 } }\n${GOOD}`,
        /\.validation\.zzz$/,
      ),
    );
    for (const t of resourceTypes) {
      const props = (
        schema.definitions as Record<
          string,
          { properties: { properties: { properties: Record<string, { description?: string }> } } }
        >
      )[t]!.properties.properties.properties;
      for (const a of attributes(schemas[t]).filter((x) => x.input)) {
        assert.ok(props[a.name], `${t}.${a.name} is in the schema`);
        assert.ok(
          props[a.name]!.description?.startsWith(a.description),
          `${t}.${a.name} has its description`,
        );
      }
    }
  });

  test('stratus schema prints it', async () => {
    const r = await runCli(['schema']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), schema);
  });
});
