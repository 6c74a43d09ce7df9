/**
 * examples/heat (the two-tier template, its provider template and environment): it loads, and the only
 * errors are the Heat types whose Stratus type is not in the registry yet, each named once per use with
 * its line. As the networking, volume and other types land (one entry each in types.ts), this test
 * narrows to nothing missing; then the whole example must plan.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { attributes, isResourceType, schemas } from '@stratus/model';
import { parse } from 'yaml';
import { formatDiagnostic } from '../../diagnostics/index.js';
import { checkStack } from '../../engine/check.js';
import { MemoryHandlers } from '../../testing/memory-handlers.js';
import { planStack } from '../../testing/plan-stack.js';
import { loadHeatFile } from './load.js';
import { HEAT_TYPES, isAvailable } from './types.js';

const DIR = new URL('../../../../../examples/heat/', import.meta.url).pathname;

/** The OS:: types a template uses (resources and ResourceGroup members). */
function typesUsed(file: string): Set<string> {
  const doc = parse(readFileSync(file, 'utf8')) as {
    resources: Record<string, { type: string; properties?: { resource_def?: { type: string } } }>;
  };
  const out = new Set<string>();
  for (const r of Object.values(doc.resources)) {
    out.add(r.type);
    if (r.properties?.resource_def) out.add(r.properties.resource_def.type);
  }
  return out;
}

test('examples/heat loads; what fails is exactly the types Stratus lacks yet', async (t) => {
  const used = new Set([...typesUsed(`${DIR}two-tier.yaml`), ...typesUsed(`${DIR}worker.yaml`)]);
  const missing = [...used].filter((ty) => HEAT_TYPES[ty] && !isAvailable(HEAT_TYPES[ty]!)).sort();
  t.diagnostic(`types still missing from the registry: ${missing.join(', ') || 'none'}`);
  const r = loadHeatFile(`${DIR}two-tier.yaml`, { environments: [`${DIR}env.yaml`] });
  const errors = r.diagnostics.items.filter((d) => d.severity === 'error');
  for (const d of errors) assert.ok(d.range && d.range.line > 0, formatDiagnostic(d));
  const named = new Set<string>();
  for (const d of errors) {
    const m = /^(OS::[A-Za-z:]+) is not supported yet/.exec(d.message);
    assert.ok(m, `an error that is not a missing type: ${formatDiagnostic(d)}`);
    named.add(m[1]!);
  }
  assert.deepEqual([...named].sort(), missing);
  if (missing.length === 0) {
    // Everything the example uses exists: it must check and plan.
    assert.ok(r.config);
    assert.deepEqual(
      checkStack(r.config, new MemoryHandlers().providers).diagnostics.items.map(formatDiagnostic),
      [],
    );
    const p = await planStack(r.config);
    assert.deepEqual(p.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic), []);
  }
});

test('every Heat type mapped onto a registered type maps only onto inputs and attributes that type has', () => {
  // A type that landed with other input names than its entry assumed would fail here, not in a user's plan.
  for (const [heat, m] of Object.entries(HEAT_TYPES)) {
    if (!isResourceType(m.stratus)) continue;
    const names = new Set(attributes(schemas[m.stratus]).map((a) => a.name));
    for (const [p, rule] of Object.entries(m.properties))
      if (rule.to && !names.has(rule.to) && !rule.optional)
        assert.fail(`${heat}.${p} maps onto ${m.stratus}.${rule.to}, which ${m.stratus} lacks`);
    for (const [a, rule] of Object.entries(m.attributes))
      if (rule.path && !names.has(String(rule.path[0])))
        assert.fail(
          `${heat} attribute ${a} maps onto ${m.stratus}.${rule.path.join('.')}, which ${m.stratus} lacks`,
        );
  }
});
