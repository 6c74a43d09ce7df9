/** Test support (not built into dist): running commands, and the `stratus` CLI from source or as built. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
/** The package's `bin` (package.json): the `stratus` command as installed, bundled from dist by scripts/bundle-cli.ts. */
const BIN = fileURLToPath(new URL('../../dist/bundle/stratus.js', import.meta.url));
/** tsc's record of the build (`tsc -b`): the source files it compiled and a SHA-256 of each one's text. */
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
/** tsx's loader by absolute URL, so the CLI runs from source in any working directory. */
const TSX = import.meta.resolve('tsx');

/** Output of a finished command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with an argument array (NO_COLOR set, extra env added) and collects its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Runs the `stratus` CLI from source (through tsx) with `args`. */
export const runCli = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> =>
  run(process.execPath, ['--import', TSX, MAIN, ...args], opts);

let builtFrom: string | undefined;
/**
 * Empty when the built CLI (dist) was compiled from the sources as they are now, else what differs:
 * compares each source file tsc compiled with the SHA-256 it recorded in dist/.tsbuildinfo (tsc's own
 * file versions: content, not modification times, which a cached build restores unchanged).
 */
export function builtCliStale(): string {
  builtFrom ??= compareWithBuild();
  return builtFrom;
}

function compareWithBuild(): string {
  let info: { fileNames: string[]; fileInfos: (string | { version: string })[] };
  try {
    info = JSON.parse(readFileSync(join(DIST, '.tsbuildinfo'), 'utf8'));
  } catch (e) {
    return `no build record (${(e as Error).message})`;
  }
  const changed: string[] = [];
  info.fileNames.forEach((name, i) => {
    if (!name.startsWith('../src/')) return;
    const f = info.fileInfos[i];
    const version = typeof f === 'string' ? f : f?.version;
    let text: string;
    try {
      text = readFileSync(join(DIST, name), 'utf8');
    } catch {
      changed.push(`${name.slice(3)} (gone)`);
      return;
    }
    if (createHash('sha256').update(text).digest('hex') !== version) changed.push(name.slice(3));
  });
  return changed.length ? `changed since the build: ${changed.join(', ')}` : '';
}

/**
 * Runs the built `stratus` command (packages/sdk/dist/bundle/stratus.js, the package's `bin`, without tsx: a
 * fraction of the start-up time of {@link runCli}) with `args`. Throws, naming what changed, when the
 * build is older than the sources (run `npm run build`): a test never passes on stale code.
 */
export function runBuiltCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  const stale = builtCliStale();
  if (stale)
    return Promise.reject(new Error(`the built CLI is not the source's (run npm run build): ${stale}`));
  return run(process.execPath, [BIN, ...args], opts);
}
