/** Test support (not built into dist): running commands, and the `stratus` CLI from source. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
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
