// Measures the cold start of the built CLI: the wall time of a fresh node process running
// packages/sdk/dist/bundle/stratus.js (the package's `bin`, bundled by scripts/bundle-cli.ts) for
// `version`, `-help` and `validate examples/quickstart`, next to `node -e 0` (the floor no CLI can beat),
// to the same commands with the bundle's code cache turned off (STRATUS_CLI_CODE_CACHE=off) and from
// the unbundled modules (dist/cli/main.js), which shows what the cache and the bundle save under the
// same load. Runs are interleaved, so load on the machine hits every command alike; each
// run's output is checked, since timing a failing command is worthless.
//
//   npx turbo run build && node --import tsx bench/cli-start.ts [--runs N] [--compare DIR]
//
// --compare DIR also measures the CLI of another built checkout (e.g. main, before a change) in the same
// interleaved runs, so the two are compared under the same load.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TARGET_VERSION_MS = 150;
const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 15);
const compare = arg('--compare');

/** One command measured: its node arguments, extra environment and what its output must contain. */
interface Case {
  label: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  expect: RegExp;
}
/** The commands of the CLI of the checkout at `dir`, labelled with `suffix`. */
const cliCases = (dir: string, suffix: string, entry = 'packages/sdk/dist/bundle/stratus.js'): Case[] => {
  const main = `${dir}/${entry}`;
  if (!existsSync(main)) {
    console.error(`${main} is missing: run npx turbo run build there first`);
    process.exit(1);
  }
  return [
    { label: `stratus version${suffix}`, args: [main, 'version'], expect: /^Stratus v\d/ },
    { label: `stratus -help${suffix}`, args: [main, '-help'], expect: /^Usage: stratus/ },
    {
      label: `stratus validate examples/quickstart${suffix}`,
      args: [main, 'validate', `${dir}/examples/quickstart`],
      expect: /valid/i,
    },
  ];
};
const CASES: Case[] = [
  { label: 'node -e 0', args: ['-e', '0'], expect: /^$/ },
  ...cliCases(root.replace(/\/$/, ''), ''),
  // The same bundle compiled without its code cache (scripts/bundle-cli.ts): what the cache saves.
  ...cliCases(root.replace(/\/$/, ''), ' (no code cache)').map((c) => ({
    ...c,
    env: { STRATUS_CLI_CODE_CACHE: 'off' },
  })),
  ...cliCases(root.replace(/\/$/, ''), ' (unbundled)', 'packages/sdk/dist/cli/main.js'),
  // A checkout from before the bundle has only the modules.
  ...(compare
    ? cliCases(
        compare.replace(/\/$/, ''),
        ` (${compare})`,
        existsSync(`${compare}/packages/sdk/dist/bundle/stratus.js`)
          ? 'packages/sdk/dist/bundle/stratus.js'
          : 'packages/sdk/dist/cli/main.js',
      )
    : []),
];

/** Milliseconds from spawn to exit of one run, after checking its exit code and output. */
function once(c: Case): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, c.args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', STRATUS_LOG: '', ...c.env },
  });
  const ms = performance.now() - t0;
  assert.equal(r.status, 0, `${c.label} exited ${r.status}: ${r.stderr}`);
  assert.match(r.stdout, c.expect, `${c.label} printed: ${r.stdout}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

for (const c of CASES) once(c); // warm the page cache
const times = new Map<string, number[]>(CASES.map((c) => [c.label, []]));
for (let i = 0; i < RUNS; i++) for (const c of CASES) times.get(c.label)!.push(once(c));

const floor = median(times.get('node -e 0')!);
console.log(`cold start, ${RUNS} interleaved runs each (ms)`);
const W = Math.max(...CASES.map((c) => c.label.length)) + 2;
console.log(
  `${'command'.padEnd(W)}${'median'.padStart(8)}${'min'.padStart(8)}${'max'.padStart(8)}  median - node -e 0`,
);
for (const [label, xs] of times) {
  const m = median(xs);
  console.log(
    `${label.padEnd(W)}${m.toFixed(0).padStart(8)}${Math.min(...xs)
      .toFixed(0)
      .padStart(8)}${Math.max(...xs)
      .toFixed(0)
      .padStart(8)}  ${(m - floor).toFixed(0).padStart(6)}`,
  );
}
const v = median(times.get('stratus version')!);
const ok = v <= TARGET_VERSION_MS;
console.log(
  `target: stratus version <= ${TARGET_VERSION_MS} ms: ${ok ? 'pass' : 'FAIL'} (${v.toFixed(0)} ms)`,
);
process.exitCode = ok ? 0 : 1;
