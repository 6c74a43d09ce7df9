/**
 * Acceptance table for the CLI's conventions (Terraform's): every command x {-help, --help, help CMD,
 * unknown flag, a typo of one of its flags, a flag of another command, no stack found}, with exact exit
 * codes and messages; typos of commands get suggestions.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { registry } from '@stratus/model';
import { COMMANDS } from './commands/index.js';
import type { CommandSpec } from './registry.js';
import { type Run, runBuiltCli } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'stratus-conventions-'));
after(() => rmSync(root, { recursive: true, force: true }));
/** A directory with no stack in it. */
const empty = join(root, 'empty');
mkdirSync(empty);
/** The agent the CLI would start: none of these commands may start one. */
const agentDir = join(root, 'agent');
const env = { STRATUS_AGENT_STATE_DIR: agentDir, STRATUS_AGENT_SOCKET: join(agentDir, 'sock') };
after(() => assert.equal(existsSync(agentDir), false, 'no command started an agent'));

/** Runs the built CLI (the `stratus` command itself) in `cwd` (default: the empty directory). */
const cli = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> =>
  runBuiltCli(args, { cwd: opts.cwd ?? empty, env: { ...env, ...opts.env } });

/** Runs `jobs` with at most 6 CLIs at once. */
async function all<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return results;
}

const words = (c: CommandSpec) => c.name.split(' ');
const usageHint = (c: string) => `Run \`stratus ${c} -help\` for usage.\n`;
/** Arguments a command needs besides STACK, so only the missing stack is wrong. */
const REQUIRED: Record<string, string[]> = {
  'state show': ['web'],
  'state rm': ['web'],
  'state mv': ['web', 'www'],
  import: ['web', 'some-domain'],
  'force-unlock': ['0123'],
  completion: ['bash'],
};
/**
 * Commands that read no stack but reach the agent or the host when run plainly (list would start an
 * agent, doctor probes KVM for seconds): what their plain run must give here instead, where no agent
 * runs and none may be started. Undefined: not run plainly (the e2e tests run them for real).
 */
const PLAIN: Record<string, { code: number; stdout?: RegExp; stderr?: RegExp } | undefined> = {
  list: undefined,
  doctor: undefined,
  delete: { code: 1, stderr: /^error: delete takes TYPE and one or more IDs, or -orphans \[TYPE\]\n/ },
  'agent status': { code: 1, stdout: /^stratus-agent is not running \(nothing answers on / },
  'agent stop': { code: 0, stdout: /^stratus-agent is not running \(no live pid in / },
  'agent logs': { code: 1, stderr: /^error: no agent log at / },
  // Without SERVER it stops before reaching an agent.
  console: { code: 1, stderr: /^error: console takes one SERVER \(an id or a name\)\n/ },
  ssh: { code: 1, stderr: /^error: ssh takes a SERVER \(its name in the stack, or its id\)\n/ },
  'server password': {
    code: 1,
    stderr: /^error: server password takes one SERVER \(its name in the stack, or its id\)\n/,
  },
};
const owners = new Map<string, string[]>();
for (const c of COMMANDS)
  for (const f of c.flags) owners.set(f.name, [...(owners.get(f.name) ?? []), c.name]);
/** A flag of some other command that `c` does not have. */
function inapplicable(c: CommandSpec): string {
  const mine = new Set(c.flags.map((f) => f.name));
  const preferred = ['auto-approve', 'out', 'detailed-exitcode', 'lock', 'state', 'json', 'chdir'];
  return preferred.find((f) => !mine.has(f) && owners.has(f))!;
}
/** A one-letter typo of `name` (its last letter dropped, or two letters swapped for short names). */
const typo = (name: string) => (name.length > 4 ? name.slice(0, -1) : `${name[1]}${name[0]}${name.slice(2)}`);

// Commands' tables and typos are independent of each other: two at a time.
describe('every command x {-help, unknown flag, typo, inapplicable flag, no stack found}', {
  concurrency: 2,
}, () => {
  for (const c of COMMANDS) {
    test(c.name, async () => {
      const w = words(c);
      const visible = c.flags.filter((f) => !f.hidden);
      const other = inapplicable(c);
      const runs = await all([
        () => cli([...w, '-help']),
        () => cli([...w, '--help']),
        () => cli(['help', ...w]),
        () => cli([...w, '-h']),
        () => cli([...w, '-bogus-flag', ...(REQUIRED[c.name] ?? [])]),
        () => cli([...w, `-${typo(visible[0]!.name)}`]),
        () => cli([...w, `-${other}`]),
        () =>
          c.name in PLAIN && !PLAIN[c.name]
            ? Promise.resolve({ code: 0, stdout: '', stderr: '' })
            : cli([...w, ...(REQUIRED[c.name] ?? [])]),
      ]);
      const [help, dashdash, helpCmd, h, unknown, typoed, notMine, noStack] = runs as [
        Run,
        Run,
        Run,
        Run,
        Run,
        Run,
        Run,
        Run,
      ];

      // Help: exit 0, its usage line first, every visible flag listed; the four spellings agree.
      assert.equal(help.code, 0, help.stderr);
      assert.ok(help.stdout.startsWith(`Usage: stratus ${c.usage}\n`), help.stdout);
      for (const f of visible) assert.match(help.stdout, new RegExp(`^  -${f.name}\\b`, 'm'));
      assert.equal(help.stderr, '');
      for (const r of [dashdash, helpCmd, h]) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, help.stdout);
      }

      assert.equal(unknown.code, 1);
      assert.equal(unknown.stdout, '');
      assert.equal(unknown.stderr, `error: unknown flag -bogus-flag for ${c.name}\n${usageHint(c.name)}`);

      assert.equal(typoed.code, 1);
      assert.equal(
        typoed.stderr,
        `error: unknown flag -${typo(visible[0]!.name)} for ${c.name}; did you mean -${visible[0]!.name}?\n${usageHint(c.name)}`,
      );

      assert.equal(notMine.code, 1);
      assert.equal(
        notMine.stderr,
        `error: -${other} is not a flag of ${c.name}; it is a flag of ${owners
          .get(other)!
          .map((o) => `stratus ${o}`)
          .join(', ')}\n${usageHint(c.name)}`,
      );

      const plain = PLAIN[c.name];
      if (plain) {
        assert.equal(noStack.code, plain.code, noStack.stderr);
        if (plain.stdout) assert.match(noStack.stdout, plain.stdout);
        if (plain.stderr) assert.match(noStack.stderr, plain.stderr);
      } else if (c.stack.kind === 'none') {
        // Commands that read no stack work anywhere.
        assert.equal(noStack.code, 0, noStack.stderr);
      } else {
        assert.equal(noStack.code, 1);
        assert.equal(noStack.stdout, '');
        assert.equal(
          noStack.stderr,
          `error: no stack found: ${empty} has no stack.yaml; name a stack file or a directory holding stack.yaml as STACK, or run from its directory or with -chdir=DIR\n`,
          'a plain message: no ENOENT, no usage hint',
        );
      }
    });
  }
});

describe('typos of commands get suggestions', { concurrency: 6 }, () => {
  const CASES: [string[], string][] = [
    [['plna'], 'error: unknown command "plna"; did you mean plan?\nRun `stratus -help` for usage.\n'],
    [['aply'], 'error: unknown command "aply"; did you mean apply?\nRun `stratus -help` for usage.\n'],
    [
      ['destory'],
      'error: unknown command "destory"; did you mean destroy?\nRun `stratus -help` for usage.\n',
    ],
    [
      ['verison'],
      'error: unknown command "verison"; did you mean version?\nRun `stratus -help` for usage.\n',
    ],
    [
      ['stat', 'list'],
      'error: unknown command "stat"; did you mean state?\nRun `stratus -help` for usage.\n',
    ],
    [
      ['state', 'lst'],
      'error: unknown state subcommand "lst"; did you mean list?\nRun `stratus state -help` for usage.\n',
    ],
    [
      ['agent', 'stauts'],
      'error: unknown agent subcommand "stauts"; did you mean status?\nRun `stratus agent -help` for usage.\n',
    ],
    [['doctr'], 'error: unknown command "doctr"; did you mean doctor?\nRun `stratus -help` for usage.\n'],
    [
      ['list', 'serverz'],
      `error: unknown type "serverz"; did you mean servers? (types: ${Object.values(registry)
        .map((s) => s.collection)
        .join(', ')})\nRun \`stratus list -help\` for usage.\n`,
    ],
    [
      ['delete', '-orphans', 'image', '0123'],
      'error: delete -orphans takes at most a TYPE, not IDs\nRun `stratus delete -help` for usage.\n',
    ],
    [['help', 'plna'], 'error: unknown command "plna"; did you mean plan?\nRun `stratus -help` for usage.\n'],
    [['frobnicate'], 'error: unknown command "frobnicate"\nRun `stratus -help` for usage.\n'],
    [['-bogus', 'plan'], 'error: unknown global flag -bogus\nRun `stratus -help` for usage.\n'],
    [
      ['-auto-approve', 'apply'],
      'error: -auto-approve is a flag of a command; put it after the command, e.g. stratus apply -auto-approve\nRun `stratus -help` for usage.\n',
    ],
  ];
  for (const [args, stderr] of CASES)
    test(args.join(' '), async () => {
      const r = await cli(args);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, stderr);
    });
});

describe('global forms', () => {
  test('version, -version, --version and -v print the same; version -json', async () => {
    const [a, b, c, d, json] = await all([
      () => cli(['version']),
      () => cli(['-version']),
      () => cli(['--version']),
      () => cli(['-v']),
      () => cli(['version', '-json']),
    ]);
    assert.equal(a!.code, 0);
    assert.match(a!.stdout, /^Stratus v\d+\.\d+\.\d+\non [a-z0-9]+_[a-z0-9]+\n$/);
    for (const r of [b, c, d]) assert.equal(r!.stdout, a!.stdout);
    const v = JSON.parse(json!.stdout);
    assert.equal(`Stratus v${v.stratus_version}\non ${v.platform}\n`, a!.stdout);
  });

  test('help, -help and no command print the command list (exit 0, 0, 1)', async () => {
    const [h, dash, none, state] = await all([
      () => cli(['help']),
      () => cli(['-help']),
      () => cli([]),
      () => cli(['state']),
    ]);
    assert.equal(h!.code, 0);
    assert.equal(dash!.code, 0);
    assert.equal(none!.code, 1);
    assert.equal(dash!.stdout, h!.stdout);
    assert.equal(none!.stdout, h!.stdout);
    for (const c of COMMANDS) assert.match(h!.stdout, new RegExp(`^  ${c.name.split(' ')[0]}\\b`, 'm'));
    assert.equal(state!.code, 1);
    assert.equal(
      state!.stderr,
      'error: state needs a subcommand: list, show, rm, mv\nRun `stratus state -help` for usage.\n',
    );
  });
});

const STACK = `name: conv
resources:
  net:
    type: network
outputs:
  greeting: hello
`;

describe('flags, stacks and environment as Terraform users type them', () => {
  const dir = join(root, 'stack');
  mkdirSync(dir);
  writeFileSync(join(dir, 'stack.yaml'), STACK);
  const emptyStack = join(root, 'nothing');
  mkdirSync(emptyStack);
  writeFileSync(join(emptyStack, 'stack.yaml'), 'resources: {}\n');

  test('-flag=true|false, --flag, -flag VALUE; a bad boolean is a usage error', async () => {
    const [ok, bad, dd, missing, duration] = await all([
      () =>
        cli([
          'apply',
          '-auto-approve=true',
          '-lock=false',
          '-input=false',
          '-no-color',
          '--parallelism',
          '3',
          emptyStack,
        ]),
      () => cli(['apply', '-auto-approve=maybe', emptyStack]),
      () => cli(['plan', '--detailed-exitcode', '--refresh=false', dir]),
      () => cli(['plan', '-out']),
      () => cli(['plan', '-lock-timeout=soon', dir]),
    ]);
    assert.equal(ok!.code, 0, ok!.stderr);
    assert.match(ok!.stdout, /No changes/);
    assert.equal(bad!.code, 1);
    assert.equal(bad!.stderr, `error: -auto-approve takes true or false, not "maybe"\n${usageHint('apply')}`);
    assert.equal(dd!.code, 2, dd!.stderr);
    assert.equal(missing!.code, 1);
    assert.equal(missing!.stderr, `error: -out needs a value: -out=FILE\n${usageHint('plan')}`);
    assert.equal(duration!.code, 1);
    assert.equal(
      duration!.stderr,
      `error: -lock-timeout takes a duration such as 30s, 5m or 1h, not "soon"\n${usageHint('plan')}`,
    );
  });

  test('the stack: positional, -chdir before or after the command, or the current directory', async () => {
    const runs = await all([
      // -lock=false: these plans run at once on one state.
      () => cli(['plan', '-detailed-exitcode', '-lock=false', dir]),
      () => cli(['-chdir', dir, 'plan', '-detailed-exitcode', '-lock=false']),
      () => cli(['plan', '-detailed-exitcode', '-lock=false', `-chdir=${dir}`]),
      () => cli(['plan', '-detailed-exitcode', '-lock=false'], { cwd: dir }),
      () => cli(['graph', dir]),
      () => cli(['-chdir=/nonexistent-dir', 'plan']),
      () => cli(['plan', join(dir, 'missing.yaml')]),
    ]);
    for (const r of runs.slice(0, 4)) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stdout, /# network net will be created/);
    }
    assert.match(runs[4]!.stdout, /digraph stratus/);
    assert.equal(runs[5]!.stderr, 'error: -chdir=/nonexistent-dir: /nonexistent-dir is not a directory\n');
    assert.equal(
      runs[6]!.stderr,
      `error: no stack found: ${join(dir, 'missing.yaml')} does not exist; name a stack file or a directory holding stack.yaml as STACK, or run from its directory or with -chdir=DIR\n`,
    );
  });

  test('STACK before names: output, state list, state show take it first; -stack still works', async () => {
    const [outAll, outName, list, show, alias] = await all([
      () => cli(['output', dir]),
      () => cli(['output', dir, 'greeting']),
      () => cli(['state', 'list', dir]),
      () => cli(['state', 'show', dir, 'net']),
      () => cli(['output', '-stack', dir, 'greeting']),
    ]);
    assert.equal(outAll!.code, 0, outAll!.stderr);
    assert.equal(outAll!.stdout, '');
    assert.equal(outName!.stderr, 'error: no output named "greeting"; outputs: none\n');
    assert.equal(list!.code, 0, list!.stderr);
    assert.equal(show!.stderr, 'error: no resource named net in state; see: stratus state list\n');
    assert.equal(alias!.stderr, outName!.stderr);
  });

  test('show PLANFILE shows a saved plan (and -json the plan document)', async () => {
    const plan = join(root, 'saved.plan');
    const made = await cli(['plan', `-out=${plan}`, dir]);
    assert.equal(made.code, 0, made.stderr);
    const [shown, json] = await all([() => cli(['show', plan]), () => cli(['show', '-json', plan])]);
    assert.equal(shown!.code, 0, shown!.stderr);
    assert.match(shown!.stdout, /^Saved plan .*saved\.plan, made from .*stack\.yaml:/);
    assert.match(shown!.stdout, /# network net will be created/);
    assert.match(shown!.stdout, /Plan: 1 to add, 0 to change, 0 to destroy\./);
    const doc = JSON.parse(json!.stdout);
    assert.equal(doc.format_version, '1.2');
    assert.deepEqual(doc.resource_changes[0].change.actions, ['create']);
  });

  test('plan -json: one JSON object per line, Terraform UI message types', async () => {
    const r = await cli(['plan', '-json', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.type),
      ['version', 'planned_change', 'change_summary'],
    );
    for (const l of lines) {
      assert.equal(l['@module'], 'stratus.ui');
      assert.ok(l['@message'] && l['@level'] && l['@timestamp']);
    }
    assert.equal(lines[1].change.action, 'create');
    assert.equal(lines[1].change.resource.addr, 'net');
    assert.equal(lines[1].change.resource.resource_type, 'network');
    assert.deepEqual(lines[2].changes, { add: 1, change: 0, import: 0, remove: 0, operation: 'plan' });
  });

  test('apply -json needs -auto-approve; apply -json of nothing to do', async () => {
    const [needs, ok] = await all([
      () => cli(['apply', '-json', dir]),
      () => cli(['apply', '-json', '-auto-approve', emptyStack]),
    ]);
    assert.equal(needs!.code, 1);
    assert.equal(
      needs!.stderr,
      `error: -json needs -auto-approve (or a saved plan): the machine-readable UI cannot ask for approval\n${usageHint('apply')}`,
    );
    assert.equal(ok!.code, 0, ok!.stderr);
    const types = ok!.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).type);
    assert.deepEqual(types, ['version', 'change_summary', 'outputs']);
  });

  test('-input=false: an apply that needs approval fails without asking', async () => {
    const r = await cli(['apply', '-input=false', dir]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /error: approval is needed but -input=false forbids asking; pass -auto-approve to proceed\n$/,
    );
    assert.doesNotMatch(r.stderr, /Run `stratus/);
  });

  test('STRATUS_CLI_ARGS and STRATUS_CLI_ARGS_<command> add flags; a bad one names its variable', async () => {
    const [general, specific, bad, subcmd] = await all([
      () => cli(['plan', dir], { env: { STRATUS_CLI_ARGS: '-no-color -lock=false' } }),
      () =>
        cli(['plan', dir], {
          env: { STRATUS_CLI_ARGS_plan: '-detailed-exitcode -refresh=false -lock=false' },
        }),
      () => cli(['plan', dir], { env: { STRATUS_CLI_ARGS: '-auto-approve' } }),
      () => cli(['state', 'list', dir], { env: { STRATUS_CLI_ARGS_state_list: '-bogus' } }),
    ]);
    assert.equal(general!.code, 0, general!.stderr);
    assert.equal(specific!.code, 2, specific!.stderr);
    assert.equal(
      bad!.stderr,
      `error: -auto-approve is not a flag of plan; it is a flag of stratus apply, stratus destroy, stratus delete (from STRATUS_CLI_ARGS)\n${usageHint('plan')}`,
    );
    assert.equal(
      subcmd!.stderr,
      `error: unknown flag -bogus for state list (from STRATUS_CLI_ARGS_state_list)\n${usageHint('state list')}`,
    );
  });

  test('STRATUS_LOG=debug logs the CLI to stderr or STRATUS_LOG_PATH, never secret flag values', async () => {
    const logFile = join(root, 'cli.log');
    const [toStderr, toFile, bogus] = await all([
      () =>
        cli(['show', '-backend-url', 'postgres://u:hunter2@127.0.0.1:1/x', '-state=a', dir], {
          env: { STRATUS_LOG: 'debug' },
        }),
      () => cli(['graph', dir], { env: { STRATUS_LOG: 'DEBUG', STRATUS_LOG_PATH: logFile } }),
      () => cli(['version'], { env: { STRATUS_LOG: 'loud' } }),
    ]);
    assert.match(toStderr!.stderr, /\[DEBUG\] stratus: stratus \d+\.\d+\.\d+ on /);
    assert.match(toStderr!.stderr, /-backend-url <redacted>/);
    assert.doesNotMatch(toStderr!.stderr, /hunter2/);
    assert.equal(toFile!.code, 0);
    assert.doesNotMatch(toFile!.stderr, /\[DEBUG\]/);
    assert.match(readFileSync(logFile, 'utf8'), /\[DEBUG\] stratus: running command command="graph"/);
    assert.equal(bogus!.code, 0);
    assert.match(bogus!.stderr, /^warning: STRATUS_LOG=loud is not a log level/);
  });
});
