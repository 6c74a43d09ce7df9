/**
 * The README's commands typed into a real terminal (issue 9 Deliver 5): the quickstart is brought up
 * first (as `npm run quickstart` ends), then each line of the README's "as a user types them" block is
 * typed into bash inside tmux, as is, and the screen is checked: the exit status the prompt shows and
 * what the command printed. A line the README gains without an expectation here fails the test, so the
 * README and this test move together.
 *
 * The terminal is a private tmux server (its own socket name), in a directory shaped like the
 * repository: `examples/quickstart/stack.yaml` is the repository's file as is, `build` links to the
 * built guest image, `stratus` is on the PATH, and the agent is this test's own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, CLI, IMAGE, ROOT, stateIds, sweep } from './helpers.js';

let t: AgentEnv;
let env: NodeJS.ProcessEnv;
const server = `stratus-readme-${randomUUID().slice(0, 8)}`;
const SESSION = 'readme';
let state: string;

/** What each README line must show: its exit status and patterns of its output. */
const EXPECT: Record<string, { code: number; out: RegExp[] }> = {
  'stratus version': { code: 0, out: [/^Stratus v\d+\.\d+\.\d+$/m, /^on linux_amd64$/m] },
  'stratus list servers': {
    code: 0,
    out: [
      /^\| ID +\| Name +\| Status +\| Host +\| Networks +\| Image +\| Flavor +\| Owner +\|$/m,
      /^\| [0-9a-f-]{36} \| web +\| ACTIVE +\| local \| [0-9a-f-]{36}=10\.20\.0\.\d+ +\| [0-9a-f-]{36} \| .* \| quickstart: web +\|$/m,
    ],
  },
  'stratus plan examples/quickstart': {
    code: 0,
    out: [/No changes\. Your infrastructure matches the configuration\./],
  },
  'stratus output examples/quickstart': {
    code: 0,
    out: [/^web_ip = "10\.20\.0\.\d+"$/m, /^console_log = ".*console\.log"$/m],
  },
  'stratus state list examples/quickstart': {
    code: 0,
    out: [
      'guest-image +image',
      'net +network',
      'subnet +subnet',
      'web-sg +security_group',
      'web +server',
    ].map((s) => new RegExp(`^${s} +[0-9a-f-]{36}$`, 'm')),
  },
  'stratus agent status': {
    code: 0,
    out: [/^stratus-agent is running \(pid \d+\)\.$/m, /^ {2}Log: +\S+agent\.log$/m],
  },
  'stratus doctor': {
    code: 0,
    out: [
      /^\[ok {2}\] libvirtd: /m,
      /^\[ok {2}\] hypervisor: (TCG|KVM)/m,
      /^Every required prerequisite is met; guests run under (TCG \(no usable KVM\)|KVM)\.$/m,
    ],
  },
  'stratus plan -help': {
    code: 0,
    out: [/^Usage: stratus plan \[options\] \[STACK\]$/m, /^ {2}-detailed-exitcode\b/m],
  },
  'stratus destroy -auto-approve examples/quickstart': {
    code: 0,
    out: [/Destroy complete! Resources: 0 added, 0 changed, 5 destroyed\./],
  },
};

/** The lines of the README's code block that the paragraph naming this test introduces. */
function readmeLines(): string[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = text.indexOf('tests/e2e/readme-tmux.test.ts');
  assert.ok(at >= 0, 'the README names this test before its block of commands');
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(block, 'a ```sh block follows');
  return block[1]!.split('\n').filter((l) => l.trim() !== '');
}

const tmux = (...args: string[]) => {
  const r = spawnSync('tmux', ['-L', server, ...args], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, `tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** The whole terminal: scrollback and screen, wrapped lines joined, trailing blanks dropped. */
const screen = (): string[] =>
  tmux('capture-pane', '-p', '-J', '-t', SESSION, '-S', '-')
    .split('\n')
    .map((l) => l.trimEnd());

const PROMPT = /^\[(\d+)\]\$ ?(.*)$/;

/**
 * Types `line` and Enter, waits for the next prompt (no time limit tighter than a hung command's), and
 * answers the exit status the prompt shows and the lines printed in between.
 */
async function type(line: string): Promise<{ code: number; out: string }> {
  const prompts = screen().filter((l) => PROMPT.test(l)).length;
  tmux('send-keys', '-t', SESSION, '-l', line);
  tmux('send-keys', '-t', SESSION, 'Enter');
  const deadline = Date.now() + 900_000;
  for (;;) {
    const lines = screen();
    const at = lines.map((l, i) => (PROMPT.test(l) ? i : -1)).filter((i) => i >= 0);
    if (at.length > prompts) {
      const typed = at[prompts - 1]!;
      const next = at[prompts]!;
      assert.equal(PROMPT.exec(lines[typed]!)![2], line, 'the line as typed');
      return { code: Number(PROMPT.exec(lines[next]!)![1]), out: lines.slice(typed + 1, next).join('\n') };
    }
    assert.ok(Date.now() < deadline, `no prompt after ${line}:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

before(async () => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('readme');
  // The repository's shape: the quickstart's relative image path resolves through build/.
  mkdirSync(join(t.dir, 'examples/quickstart'), { recursive: true });
  copyFileSync(join(ROOT, 'examples/quickstart/stack.yaml'), join(t.dir, 'examples/quickstart/stack.yaml'));
  symlinkSync(join(ROOT, 'build'), join(t.dir, 'build'));
  mkdirSync(join(t.dir, 'bin'));
  symlinkSync(CLI, join(t.dir, 'bin/stratus'));
  state = join(t.dir, 'examples/quickstart/stratus.state.json');
  env = {
    ...process.env,
    ...t.env,
    PATH: `${join(t.dir, 'bin')}:${process.env.PATH}`,
    TERM: 'xterm-256color',
  };
  delete env.NO_COLOR;
  delete env.TMUX;
  // The quickstart as `npm run quickstart` ends it.
  const up = spawnSync(CLI, ['apply', '-auto-approve', 'examples/quickstart'], {
    cwd: t.dir,
    env,
    encoding: 'utf8',
  });
  assert.equal(up.status, 0, `quickstart apply failed:\n${up.stdout}\n${up.stderr}`);
  // The prompt shows the last exit status, as many users' prompts do; it is what `type` reads.
  const rc = join(t.dir, 'bashrc');
  writeFileSync(rc, "PS1='[$?]$ '\nHISTFILE=/dev/null\n");
  tmux('new-session', '-d', '-s', SESSION, '-x', '200', '-y', '50', '-c', t.dir, `bash --rcfile ${rc} -i`);
  const deadline = Date.now() + 120_000;
  while (!screen().some((l) => PROMPT.test(l))) {
    assert.ok(Date.now() < deadline, `no prompt in the terminal:\n${screen().join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
});

after(async () => {
  spawnSync('tmux', ['-L', server, 'kill-server'], { env });
  if (existsSync(state) && stateIds(state).length) {
    spawnSync(CLI, ['destroy', '-auto-approve', 'examples/quickstart'], { cwd: t.dir, env });
    sweep(stateIds(state));
  }
  await t.cleanup([]);
});

test("the README's commands, typed into a terminal after the quickstart, show what the README says", async (ctx) => {
  const lines = readmeLines();
  assert.ok(lines.length >= 5, lines.join('\n'));
  for (const line of lines) {
    const command = line.replace(/\s+#.*$/, '').trim();
    const want = EXPECT[command];
    assert.ok(want, `no expectation for the README's \`${command}\`: add one to EXPECT`);
    const started = Date.now();
    const got = await type(line);
    // For the README's figures (never asserted: timings depend on the machine's load).
    ctx.diagnostic(`${command}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(got.code, want.code, `${command} exited ${got.code}:\n${got.out}`);
    for (const re of want.out) assert.match(got.out, re, `${command}`);
  }
  assert.deepEqual(stateIds(state), [], 'the last line destroyed everything');
});
