/**
 * Fuzzing the HOT loader (issue 14): 5,000 mutations of examples/heat (values replaced by anything,
 * Heat functions with wrong arguments, bytes changed, YAML alias bombs and deep nesting spliced in) end
 * with no exception and every error located at a file:line:column of one of the stack's files. A fixed
 * seed keeps CI reproducible. The slowest load is printed (the acceptance's bound is 2 s; a test does
 * not assert on time).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { MemoryHandlers } from '../../testing/memory-handlers.js';
import { aliasBomb, assertErrorsLocated, loadedDiagnostics, spliceLine } from '../validate.test-support.js';
import { loadHeatText } from './load.js';

const EXAMPLE = new URL('../../../../../examples/heat/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'stratus-heat-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
for (const f of ['env.yaml', 'worker.yaml']) copyFileSync(join(EXAMPLE, f), join(dir, f));
const FILE = join(dir, 'two-tier.yaml');
const FILES = new Set([FILE, join(dir, 'env.yaml'), join(dir, 'worker.yaml')]);
const BASE_TEXT = readFileSync(join(EXAMPLE, 'two-tier.yaml'), 'utf8');
const BASE = parse(BASE_TEXT) as unknown;
const _checkProviders = new MemoryHandlers().providers;

/** Values of any kind, Heat function calls among them (well formed or not). */
const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(
      null,
      true,
      false,
      0,
      -1,
      1.5,
      '',
      '%index%',
      'OS::Nova::Server',
      'OS::Neutron::Router',
      'x.yaml',
    ),
    fc.integer(),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 3 }),
    fc
      .tuple(
        fc.constantFrom(
          'get_param',
          'get_resource',
          'get_attr',
          'get_file',
          'str_replace',
          'str_replace_strict',
          'list_join',
          'str_split',
          'repeat',
          'map_merge',
          'map_replace',
          'digest',
          'filter',
          'contains',
          'equals',
          'if',
          'not',
          'and',
          'or',
          'yaql',
          'list_concat',
        ),
        fc.oneof(
          tie('v'),
          fc.constantFrom(
            'worker_count',
            'db',
            ['db', 'first_address'],
            ['workers', 'ip', 0],
            ['web', 'networks', 'private', 0],
            { template: '$a', params: { $a: { get_attr: ['db', 'first_address'] } } },
            { for_each: { '%x%': [1, 2, 3] }, template: { a: '%x%' } },
            ['with_volume', 1, 2],
          ),
        ),
      )
      .map(([fn, arg]) => ({ [fn]: arg })),
  ),
})).v;

/** Every path into a plain value. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(at);
  if (Array.isArray(v)) for (const [i, x] of v.entries()) paths(x, [...at, i], out);
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}
const ALL_PATHS = paths(BASE);

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
  return copy;
}

/** One to three places of the template replaced by any value. */
const structural = fc
  .array(fc.tuple(fc.nat(ALL_PATHS.length - 1), anyValue), { minLength: 1, maxLength: 3 })
  .map((edits) => {
    let doc: unknown = BASE;
    for (const [i, v] of edits) {
      try {
        doc = setAt(doc, ALL_PATHS[i]!, v);
      } catch {
        // The path is gone after an earlier edit.
      }
    }
    return stringify(doc);
  });

/** Characters of the template replaced, inserted or deleted. */
const textual = fc
  .array(
    fc.record({
      at: fc.nat(BASE_TEXT.length),
      del: fc.nat(8),
      ins: fc.oneof(
        fc.string({ maxLength: 6 }),
        fc.constantFrom('&a ', '*a', ': ', '- ', '\t', '"', '{', '[', '{get_attr: [', '%index%', '\u0000'),
      ),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .map((edits) => {
    let s = BASE_TEXT;
    for (const e of edits) {
      const at = Math.min(e.at, s.length);
      s = s.slice(0, at) + e.ins + s.slice(Math.min(at + e.del, s.length));
    }
    return s;
  });

/** YAML hard on a loader, spliced into the template or standing alone after the version line. */
const nasty = fc
  .tuple(
    fc.constantFrom(
      aliasBomb('outputs:\n  o: {value: *i}\n'),
      aliasBomb('resources:\n  n: {type: OS::Neutron::Net, properties: {name: *i}}\n'),
      aliasBomb('parameters:\n  p: {type: json, default: *i}\n'),
      'resources: &r\n  n: {type: OS::Heat::Value, properties: {value: *r}}\n',
      'outputs: &o\n  o: {value: *o}\n',
      'resources:\n  v: &v {type: OS::Heat::Value, properties: {value: {get_attr: [v, value]}}}\n',
      'resources:\n  a: {type: OS::Heat::Value, properties: {value: {get_attr: [b, value]}}}\n  b: {type: OS::Heat::Value, properties: {value: {get_attr: [a, value]}}}\n',
      'resources:\n  r: {type: OS::Heat::Value, properties: {value: {repeat: {for_each: {a: [1,2,3,4,5,6,7,8,9,10], b: [1,2,3,4,5,6,7,8,9,10], c: [1,2,3,4,5,6,7,8,9,10], d: [1,2,3,4,5,6,7,8,9,10], e: [1,2,3,4,5,6,7,8,9,10], f: [1,2,3,4,5,6,7,8,9,10]}, template: x}}}}\n',
      'resources:\n  g: {type: OS::Heat::ResourceGroup, properties: {count: 100000000, resource_def: {type: OS::Neutron::Net}}}\n',
      'resources:\n  n: {type: self.yaml}\n',
      `outputs:\n  o: {value: ${'{list_join: [",", ['.repeat(300)}a${']]}'.repeat(300)}}\n`,
      `${'['.repeat(2000)}${']'.repeat(2000)}\n`,
      'conditions:\n  a: b\n  b: a\nresources:\n  n: {type: OS::Neutron::Net, condition: a}\n',
      'resources: {__proto__: {type: OS::Neutron::Net}, constructor: {type: OS::Heat::None}}\n',
    ),
    fc.nat(),
    fc.boolean(),
  )
  .map(([snippet, n, alone]) => {
    if (alone) return `heat_template_version: 2018-08-31\n${snippet}`;
    return spliceLine(BASE_TEXT, snippet, n);
  });

test('5,000 mutated templates: no crash, every error located', (t) => {
  let errors = 0;
  let slowest = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        { arbitrary: structural, weight: 6 },
        { arbitrary: textual, weight: 4 },
        { arbitrary: nasty, weight: 1 },
      ),
      (text) => {
        const start = performance.now();
        const items = loadedDiagnostics(loadHeatText(text, FILE, { environments: [join(dir, 'env.yaml')] }));
        const took = performance.now() - start;
        slowest = Math.max(slowest, took);
        if (process.env.HEAT_FUZZ_SLOW && took > Number(process.env.HEAT_FUZZ_SLOW))
          t.diagnostic(`${took.toFixed(0)} ms: ${JSON.stringify(text.slice(0, 300))}`);
        errors += assertErrorsLocated(items, (file) => FILES.has(file));
      },
    ),
    { seed: 14_000_014, numRuns: Number(process.env.HEAT_FUZZ_RUNS ?? 5_000) },
  );
  t.diagnostic(`slowest load: ${slowest.toFixed(0)} ms; ${errors} errors`);
  assert.ok(errors > 2_500, `only ${errors} errors in 5,000 mutated templates`);
});
