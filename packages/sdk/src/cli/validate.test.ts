import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CASES, GOOD } from './bad-stacks.test-support.js';
import { runBuiltCli as runCli } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'stratus-validate-'));
after(() => rmSync(root, { recursive: true, force: true }));

// The built `stratus` command (runBuiltCli), each case in a folder of its own: four cases at a time.
describe('bad input fails validate and plan with file:line:column and field, changing nothing', {
  concurrency: 4,
}, () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const dir = mkdtempSync(join(root, 'case-'));
      const file = join(dir, 'stack.yaml');
      writeFileSync(file, c.yaml);
      const agentDir = join(dir, 'agent');
      const env = { STRATUS_AGENT_STATE_DIR: agentDir };
      for (const cmd of ['validate', 'plan']) {
        const r = await runCli([cmd, file], { env });
        assert.equal(r.code, 1, `${cmd} exit code; stderr: ${r.stderr}`);
        const expected = `${file}:${c.where}: error: ${c.field}: `;
        const line = r.stderr.split('\n').find((l) => l.startsWith(expected));
        assert.ok(line, `${cmd}: expected a line starting with ${expected}\ngot:\n${r.stderr}`);
        assert.match(line, c.message);
        assert.match(r.stderr, /nothing was changed/);
      }
      // Nothing was created: no agent was started, no state written.
      assert.equal(existsSync(agentDir), false);
      assert.deepEqual(readdirSync(dir), ['stack.yaml']);
    });
  }

  test('several problems in one file are all reported', async () => {
    const dir = mkdtempSync(join(root, 'multi-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(
      file,
      GOOD.replace('type: network', 'type: netwrok').replace('10.20.0.0/24', '10.20.0.0/33'),
    );
    const r = await runCli(['validate', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /resources\.net\.type/);
    assert.match(r.stderr, /resources\.sub\.properties\.cidr/);
    assert.match(r.stderr, /2 errors; nothing was changed/);
  });

  test('a valid stack validates', async () => {
    const dir = mkdtempSync(join(root, 'ok-'));
    writeFileSync(join(dir, 'stack.yaml'), GOOD);
    const r = await runCli(['validate', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is valid \(4 resources\)/);
  });

  test('a Windows guest takes injected files at drive paths, as cloudbase-init writes them', async () => {
    const dir = mkdtempSync(join(root, 'winpath-'));
    const yaml = GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      personality:\n        "C:\\\\Program Files\\\\x.txt": a\n        "C:/ProgramData/y.txt": b\n        /etc/z: c\n',
    );
    // Windows from the server's osType, and from its image's os_type.
    for (const [name, text] of [
      ['own.yaml', yaml.replace('      image: ${img}\n', '      image: ${img}\n      osType: windows\n')],
      [
        'image.yaml',
        yaml.replace(
          '      source: ./guest.qcow2\n',
          '      source: ./guest.qcow2\n      properties: { os_type: windows }\n',
        ),
      ],
    ] as const) {
      writeFileSync(join(dir, name), text);
      const r = await runCli(['validate', join(dir, name)]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
  });

  test('unknown flags are usage errors', async () => {
    const r = await runCli(['plan', '--bogus']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown flag -bogus for plan/);
  });

  test("validate -json: Terraform's shape, exit 1 with every diagnostic and its range", async () => {
    const dir = mkdtempSync(join(root, 'json-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(file, CASES[0]!.yaml);
    const bad = await runCli(['validate', '-json', file]);
    assert.equal(bad.code, 1, bad.stderr);
    const doc = JSON.parse(bad.stdout);
    assert.equal(doc.format_version, '1.0');
    assert.equal(doc.valid, false);
    assert.equal(doc.error_count, 1);
    assert.equal(doc.diagnostics[0].severity, 'error');
    assert.match(doc.diagnostics[0].summary, /resources\.net\.type: unknown resource type "netwrok"/);
    assert.deepEqual(doc.diagnostics[0].range.start, { line: 7, column: 5 });
    assert.equal(doc.diagnostics[0].range.filename, file);
    writeFileSync(file, GOOD);
    const good = await runCli(['validate', '-json', file]);
    assert.equal(good.code, 0, good.stderr);
    assert.deepEqual(JSON.parse(good.stdout), {
      format_version: '1.0',
      valid: true,
      error_count: 0,
      warning_count: 0,
      diagnostics: [],
    });
  });
});
