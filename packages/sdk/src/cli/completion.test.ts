/** `stratus completion bash|zsh`: the bash script completes commands, subcommands, flags and values in a real bash. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { COMMANDS } from './commands/index.js';
import { runCli } from './testing.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-completion-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, 'stratus.bash');

/** What bash completes for the words typed so far (the last one being completed). */
function complete(...words: string[]): string[] {
  const line = ['stratus', ...words];
  const quoted = line.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync(
    'bash',
    [
      '-c',
      `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${line.length - 1}; _stratus; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('bash completion', () => {
  before(async () => {
    const r = await runCli(['completion', 'bash']);
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(script, r.stdout);
    assert.equal(spawnSync('bash', ['-n', script]).status, 0, 'the script parses');
  });

  test('commands, subcommands, help topics', () => {
    assert.deepEqual(complete('pl'), ['plan']);
    assert.deepEqual(complete('st'), ['state']);
    assert.deepEqual(complete('state', ''), ['list', 'mv', 'rm', 'show']);
    assert.deepEqual(complete('help', 'ap'), ['apply']);
    assert.deepEqual(complete('completion', ''), ['bash', 'zsh']);
    assert.deepEqual(complete('-'), ['-chdir=', '-help', '-no-color', '-version']);
  });

  test("each command's own flags, and values of boolean flags", () => {
    assert.deepEqual(complete('apply', '-auto'), ['-auto-approve']);
    assert.deepEqual(complete('plan', '-auto'), [], 'plan has no -auto-approve');
    assert.deepEqual(complete('plan', '-lock'), ['-lock', '-lock-timeout=']);
    assert.deepEqual(complete('plan', '-lock='), ['-lock=false', '-lock=true']);
    assert.deepEqual(complete('state', 'rm', '-lock-t'), ['-lock-timeout=']);
    for (const c of COMMANDS) {
      const offered = complete(...c.name.split(' '), '-');
      for (const f of c.flags.filter((x) => !x.hidden))
        assert.ok(offered.includes(f.kind === 'bool' ? `-${f.name}` : `-${f.name}=`), `${c.name} -${f.name}`);
    }
  });
});

test('zsh completion names every command and flag', async () => {
  const r = await runCli(['completion', 'zsh']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith('#compdef stratus\n'));
  for (const c of COMMANDS) {
    assert.ok(r.stdout.includes(`${c.name.split(' ').at(-1)})`), c.name);
    for (const f of c.flags.filter((x) => !x.hidden))
      assert.ok(r.stdout.includes(`'-${f.name}`), `${c.name} -${f.name}`);
  }
  const bad = await runCli(['completion', 'fish']);
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stderr,
    'error: completion takes the shell: bash or zsh, not "fish"\nRun `stratus completion -help` for usage.\n',
  );
});
