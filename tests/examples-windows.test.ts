/**
 * examples/windows (issue 13, Deliver 5): both stacks validate as shipped (no Windows media needed to
 * validate), and an install ISO that is not an iso image is a plan error at the server's installMedia,
 * with file, line and column.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCli } from '../packages/sdk/src/cli/testing.js';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'stratus-examples-windows-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const validate = (file: string) =>
  runCli(['validate', '-var', 'admin_password=Example-Pa55', file], { cwd: dir, env: {} });

for (const name of ['install-iso.yaml', 'prepared-image.yaml'])
  test(`examples/windows/${name} validates`, async () => {
    const r = await validate(join(ROOT, 'examples/windows', name));
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /is valid/);
  });

test('an installMedia image that is not an iso is an error at installMedia (file:line:column)', async () => {
  const text = readFileSync(join(ROOT, 'examples/windows/install-iso.yaml'), 'utf8');
  const bad = text.replace(
    'source: ./windows.iso\n      diskFormat: iso',
    'source: ./windows.iso\n      diskFormat: qcow2',
  );
  assert.notEqual(bad, text);
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, bad);
  const line = bad.split('\n').findIndex((l) => l.includes('installMedia:')) + 1;
  const col = bad.split('\n')[line - 1]!.indexOf('installMedia') + 1;
  const r = await validate(file);
  assert.equal(r.code, 1, r.stdout);
  assert.match(
    r.stderr,
    new RegExp(
      `bad\\.yaml:${line}:${col}: error: resources\\.winsrv\\.properties\\.installMedia: installMedia must be an ISO image, but image win-iso has diskFormat qcow2`,
    ),
  );
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});
