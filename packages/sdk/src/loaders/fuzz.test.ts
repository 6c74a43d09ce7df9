/**
 * Fuzzing the stack loader (issue 7): 10,000 mutated stack files (wrong types, deep nesting, any Unicode,
 * invalid UTF-8, YAML anchors and alias bombs) must end with no exception and every error located
 * (file:line:column). A fixed seed keeps CI reproducible; a failure prints the seed and path to replay.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { MemoryHandlers } from '../testing/memory-handlers.js';

/** Providers for checks (validation is pure). */
const _checkProviders = new MemoryHandlers().providers;

import { loadStackBytes } from './stack-yaml.js';
import { aliasBomb, assertErrorsLocated, loadedDiagnostics, spliceLine } from './validate.test-support.js';

const FILE = '/fuzz/stack.yaml';

const BASE = {
  name: 'fuzz',
  resources: {
    img: { type: 'image', properties: { source: './guest.qcow2' } },
    net: { type: 'network', properties: { mtu: 1500 }, timeouts: { create: '10m' } },
    sub: {
      type: 'subnet',
      properties: {
        network: '${net}',
        cidr: '10.62.1.0/24',
        allocationPools: [{ start: '10.62.1.10', end: '10.62.1.20' }],
        dnsNameservers: ['10.62.1.1'],
      },
    },
    web: {
      type: 'server',
      properties: {
        image: '${img}',
        hostname: 'web',
        networks: [{ subnet: '${sub}', fixedIp: '10.62.1.15' }],
        publicKeys: { me: 'ssh-ed25519 AAAA me' },
        userData: '#!/bin/sh\necho ${sub.cidr}\n',
      },
      dependsOn: ['net'],
      lifecycle: { ignoreChanges: ['userData'], createBeforeDestroy: true },
    },
  },
  outputs: { ip: { value: '${web.accessIpV4}', sensitive: false }, cidr: '${sub.cidr}' },
  backend: { type: 'local', path: 'state.json' },
};

/** Values of any JSON type, Unicode text included, nested a few levels. */
const anyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, '', '${', '${web}', '${web.addresses[9].ip}'),
    fc.integer(),
    fc.double(),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** Every path (list of keys) into a JSON value. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(at);
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) paths(x, [...at, i], out);
  } else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
  return copy;
}

const ALL_PATHS = paths(BASE);

/** A structural mutation: one to three places of the base stack replaced by any value. */
const structural = fc
  .array(fc.tuple(fc.nat(ALL_PATHS.length - 1), anyValue), { minLength: 1, maxLength: 3 })
  .map((edits) => {
    let doc: unknown = BASE;
    for (const [i, v] of edits) {
      try {
        doc = setAt(doc, ALL_PATHS[i]!, v);
      } catch {
        // The path no longer exists after an earlier edit: skip this one.
      }
    }
    return Buffer.from(stringify(doc));
  });

const BASE_TEXT = stringify(BASE);

/** YAML that is hard on parsers: anchors, aliases, bombs, deep nesting, tags, merge keys, documents. */
const nasty = fc.constantFrom(
  aliasBomb('resources:\n  n: {type: network, properties: {name: *i}}\n'),
  aliasBomb('resources:\n  n: {type: network, lifecycle: *i, timeouts: *i, dependsOn: *i}\n'),
  aliasBomb('outputs:\n  o: *i\n  p: {value: *i}\nbackend: *i\n'),
  'resources: &r\n  n: {type: network, properties: *r}\n',
  'x: &n {type: network}\nresources:\n  n: *n\n  m: {type: network, properties: {name: &nm hello}}\n  o: {type: network, properties: {name: *nm}}\n',
  // A billion-laughs alias bomb.
  'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
  '&r {resources: *r}\n',
  'resources: &x\n  n: {type: network, properties: *x}\n',
  'resources:\n  n: &n {type: network}\n  m: *n\n  o: *undefined\n',
  `${'['.repeat(2000)}${']'.repeat(2000)}\n`,
  `${'{a: '.repeat(500)}1${'}'.repeat(500)}\n`,
  'resources: !!binary aGVsbG8=\n',
  'resources: !custom {a: 1}\n',
  '<<: {resources: {}}\n',
  '---\nresources: {}\n---\nresources: {}\n',
  'resources:\n  n:\n    type: network\n    type: subnet\n',
  '? [a, b]\n: c\n',
  'resources: {n: {type: network, properties: {name: "\\ud800"}}}\n',
  '\ufeffresources: {}\n',
  'resources: {"\\u0000": {type: network}}\n',
  '',
  'null\n',
  '- 1\n- 2\n',
  'resources: {toString: {type: network}, __proto__: {type: network}, constructor: {type: image}}\n',
);

/** A byte-level mutation of the base file: replaced, inserted or deleted bytes (invalid UTF-8 included). */
const bytewise = fc
  .tuple(
    fc.array(
      fc.record({
        at: fc.nat(BASE_TEXT.length),
        del: fc.nat(8),
        ins: fc.oneof(
          fc.uint8Array({ maxLength: 6 }),
          fc.constantFrom(
            ...['&a ', '*a', '*b', '!!str ', ': ', '- ', '\t', '"', "'", '{', '[', '${x}'].map((s) =>
              Buffer.from(s),
            ),
          ),
          fc.constantFrom(
            Uint8Array.of(0xff),
            Uint8Array.of(0xc3),
            Uint8Array.of(0xed, 0xa0, 0x80),
            Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
          ),
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([edits]) => {
    let b = Buffer.from(BASE_TEXT);
    for (const e of edits) {
      const at = Math.min(e.at, b.length);
      b = Buffer.concat([b.subarray(0, at), Buffer.from(e.ins), b.subarray(Math.min(at + e.del, b.length))]);
    }
    return b;
  });

/** A nasty snippet spliced in at a line start of the base file, or standing alone. */
const spliced = fc.tuple(nasty, fc.nat(), fc.boolean()).map(([snippet, n, alone]) => {
  if (alone) return Buffer.from(snippet);
  return Buffer.from(spliceLine(BASE_TEXT, snippet, n));
});

test('10,000 mutated stack files: no crash, every error located', () => {
  let errors = 0;
  fc.assert(
    fc.property(
      // Weighted: the nasty snippets are few and slow to parse (a bomb or deep nesting takes 10-40 ms), so
      // each comes up about 40 times; the cheap mutations make up the rest.
      fc.oneof(
        { arbitrary: structural, weight: 6 },
        { arbitrary: bytewise, weight: 6 },
        { arbitrary: spliced, weight: 1 },
      ),
      (bytes) => {
        errors += assertErrorsLocated(
          loadedDiagnostics(loadStackBytes(bytes, FILE)),
          (file) => file === FILE,
        );
      },
    ),
    { seed: 7_000_007, numRuns: 10_000 },
  );
  // The mutations do reach the checks (a fuzzer whose inputs all pass tests nothing).
  assert.ok(errors > 5_000, `only ${errors} errors in 10,000 mutated files`);
});
