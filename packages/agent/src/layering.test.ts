/**
 * The agent's layering, checked on the import statements of its sources: the API edge is the only place
 * that knows HTTP, so nothing imports api/; drivers (compute, network, storage) and host helpers know no
 * services; and no service imports the server service (networks read port records instead).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = import.meta.dirname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return n.endsWith('.ts') && !n.endsWith('.test.ts') ? [p] : [];
  });
}

/** Each source (relative to src/) with the sources it imports (relative to src/). */
const imports = new Map(
  sources(root).map((file) => {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)].map((m) =>
      relative(root, resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'))),
    );
    return [relative(root, file), targets] as const;
  }),
);

test('only the API edge and the agent itself import api/', () => {
  assert.ok(imports.size > 30, 'the sources were found');
  for (const [file, targets] of imports)
    if (!file.startsWith('api/') && file !== 'agent.ts')
      assert.deepEqual(
        targets.filter((t) => t.startsWith('api/')),
        [],
        `${file} imports the API`,
      );
});

test('drivers and host helpers import no services', () => {
  for (const [file, targets] of imports)
    if (/^(compute|network|storage|host|configdrive|metadata)\//.test(file))
      assert.deepEqual(
        targets.filter((t) => t.startsWith('services/')),
        [],
        `${file} imports a service`,
      );
});

test('no service imports the server service', () => {
  for (const [file, targets] of imports)
    if (file.startsWith('services/') && file !== 'services/index.ts')
      assert.ok(!targets.includes('services/server.ts'), `${file} imports services/server.ts`);
});
