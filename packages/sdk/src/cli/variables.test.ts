/**
 * Variable values on the command line: -var, -var-file (YAML or JSON, with positions), STRATUS_VAR_NAME,
 * their precedence, -input=false, and the flags' help. Through `stratus validate` (no host is touched).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from './testing.js';
import { variableInputs } from './variables.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-vars-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const stack = join(dir, 'stack.yaml');
writeFileSync(
  stack,
  `variables:
  n:
    type: number
    validation:
      condition: var.n < 4
      error_message: n must be below 4.
  tags: { type: list(string), default: [] }
resources:
  net:
    type: network
    count: \${var.n}
    properties: { mtu: '\${1400 + length(var.tags)}' }
`,
);

describe('variable values from the command line', () => {
  test('precedence: environment < -var-file (in order) < -var', () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.yaml');
    writeFileSync(a, '{"n": 1, "tags": ["x"]}');
    writeFileSync(b, 'n: 2\n');
    const inputs = variableInputs(
      { 'var-file': [a, b], var: ['tags=["y","z"]'] },
      { STRATUS_VAR_n: '0', STRATUS_VAR_other: 'x', PATH: '/bin' },
    );
    assert.equal(inputs.get('n')!.value, 2);
    assert.equal(inputs.get('n')!.origin, `-var-file ${b}`);
    assert.deepEqual(inputs.get('n')!.range, { file: b, line: 1, column: 1 });
    assert.equal(inputs.get('tags')!.value, '["y","z"]');
    assert.equal(inputs.get('tags')!.fromText, true);
    assert.equal(inputs.get('other')!.origin, 'STRATUS_VAR_other');
  });

  test('validate with -var-file: a value failing its rule is an error at the value in the var file', async () => {
    const f = join(dir, 'big.yaml');
    writeFileSync(f, '# too many\nn: 9\n');
    const r = await runCli(['validate', '-var-file', f, stack]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${f}:2:1: error: variables\\.n: n must be below 4\\.`));
  });

  test('STRATUS_VAR_NAME and -var; a list variable from text', async () => {
    const ok = await runCli(['validate', '-var', 'tags=["a","b"]', stack], { env: { STRATUS_VAR_n: '3' } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /is valid \(3 resources\)/);
  });

  test('a -var for a variable the stack does not declare is an error', async () => {
    const r = await runCli(['validate', '-var', 'n=1', '-var', 'm=2', stack]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /variables\.m: a value was given for variable m \(from -var\), but the stack declares no such variable \(variables: n, tags\)/,
    );
  });

  test('-var without = is a usage error', async () => {
    const r = await runCli(['validate', '-var', 'n', stack]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /-var takes NAME=VALUE/);
  });

  test('-input=false with a required variable missing: refused, saying what to give', async () => {
    const r = await runCli(['plan', '-input=false', stack], {
      env: { STRATUS_AGENT_STATE_DIR: join(dir, 'agent'), STRATUS_AGENT_SOCKET: join(dir, 'agent.sock') },
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /stack\.yaml:2:3: error: variables\.n: variable n is required and has no value: give -var n=VALUE, a -var-file, or STRATUS_VAR_n \(-input=false forbids asking for it\)/,
    );
  });

  test('plan -help lists -var and -var-file', async () => {
    const r = await runCli(['plan', '-help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /-var=NAME=VALUE|-var NAME=VALUE/);
    assert.match(r.stdout, /-var-file/);
  });
});
