// The one registry of types: every registered type has everything derived from it, and what refers to
// types names registered ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributes, registry, resourceTypes, schemas } from '@stratus/model';
import { serviceFactories } from '../packages/agent/src/services/index.js';
import { localPool } from '../packages/sdk/src/client/pool.js';
import { resources } from '../packages/sdk/src/constructs/resources.js';
import { agentProviders } from '../packages/sdk/src/protocol/index.js';

/** Calls `visit` on every attribute schema of every registered type and every object inside it, with its path. */
function eachSubschema(visit: (o: Record<string, unknown>, at: string) => void): void {
  const walk = (schema: unknown, at: string) => {
    if (!schema || typeof schema !== 'object') return;
    const o = schema as Record<string, unknown>;
    visit(o, at);
    for (const [k, v] of Object.entries(o)) if (typeof v === 'object') walk(v, `${at}.${k}`);
  };
  for (const s of Object.values(registry))
    for (const a of attributes(s)) walk(a.schema, `${s.type}.${a.name}`);
}

test('every registered type has a provider, a construct class and an agent service', () => {
  const providers = agentProviders(localPool());
  for (const t of resourceTypes) {
    assert.equal(providers[t]?.type, t, `${t} has no provider`);
    const cls = (resources as Record<string, unknown>)[
      t.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase())
    ];
    assert.equal(typeof cls, 'function', `${t} has no construct class`);
    assert.equal(typeof serviceFactories[t], 'function', `${t} has no agent service`);
  }
});

test('references name registered types; collections are unique', () => {
  const collections = new Set<string>();
  for (const s of Object.values(registry)) {
    assert.equal(schemas[s.type as keyof typeof schemas], s);
    assert.ok(!collections.has(s.collection), `collection ${s.collection} is used twice`);
    collections.add(s.collection);
  }
  eachSubschema((o, at) => {
    for (const k of ['ref', 'refIncludes'] as const)
      if (typeof o[k] === 'string')
        assert.ok(
          (resourceTypes as string[]).includes(o[k] as string),
          `${at}: ${k} ${o[k]} is not a registered type`,
        );
  });
});

test('every registered type is a resource of the Pulumi schema and a class of the Pulumi SDK', async () => {
  const { packageSchema, pascalCase, resourceToken } = await import(
    '../packages/provider/src/pulumi/schema.js'
  );
  const sdk = (await import('../packages/provider/src/pulumi/sdk/index.js')) as Record<string, unknown>;
  const schema = packageSchema();
  for (const t of resourceTypes) {
    assert.ok(schema.resources[resourceToken(t)], `${t} is not in the Pulumi schema`);
    assert.equal(typeof sdk[pascalCase(t)], 'function', `${t} has no Pulumi SDK class`);
  }
});

test('every map with a key pattern refuses other keys and says what a key must be', () => {
  const maps: string[] = [];
  eachSubschema((o, at) => {
    if (!o.patternProperties) return;
    maps.push(at);
    // patternProperties alone checks only the keys that match: without this, any other key passes.
    assert.equal(o.additionalProperties, false, `${at}: a key that fails the pattern would pass`);
    assert.equal(typeof o.keyFormatName, 'string', `${at}: no keyFormatName for the error message`);
  });
  // The walk saw the maps it is about (a rename would otherwise leave it checking nothing).
  for (const m of ['server.metadata', 'server.publicKeys', 'server.personality', 'flavor.extraSpecs'])
    assert.ok(maps.includes(m), `${m} is not a map with a key pattern: ${maps.join(', ')}`);
});
