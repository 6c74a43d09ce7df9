import { spawn } from 'node:child_process';
import { logger } from './log.js';

const log = logger('exec');

/** The outcome of a host command that exited 0. */
export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** A host command that failed: exited non-zero, was killed, or could not start. */
export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(
      `${command} ${args.join(' ')} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim().slice(0, 2000)}`,
    );
  }
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Data written to the command's stdin. */
  input?: string | Buffer;
  /** Exit codes other than 0 that count as success. */
  okCodes?: number[];
  /** Kill the command after this many milliseconds (default 2 minutes; 0 for no limit). */
  timeoutMs?: number;
  /**
   * Kill the command when the agent dies, even by SIGKILL (through `setpriv --pdeathsig KILL`, the
   * kernel's parent-death signal), so no half-done host command outlives a crashed agent. Not for daemons
   * meant to outlive it.
   */
  dieWithAgent?: boolean;
  /** Kill the command (SIGKILL) when this aborts; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Variables added to the agent's environment for the command. */
  env?: Readonly<Record<string, string>>;
  /** Called with the command's process id as soon as it is spawned (before it runs). */
  onSpawn?: (pid: number) => void;
}

/**
 * `command args` as a program and arguments that run it under `setpriv --pdeathsig KILL`: the kernel
 * kills it when the agent dies, even by SIGKILL (the parent-death signal survives the exec).
 */
export function dyingWithAgent(command: string, args: readonly string[]): [string, string[]] {
  return ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]];
}

/**
 * Runs a host command with an argument array (never through a shell) and resolves with its output.
 * Every command is logged at debug level so an operator can see exactly what the agent did.
 */
export function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  log.debug('run', { command, args });
  const [file, argv] = opts.dieWithAgent ? dyingWithAgent(command, args) : [command, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
      ...(opts.signal ? { signal: opts.signal, killSignal: 'SIGKILL' as const } : {}),
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    // Our own timer, not spawn's `timeout`: Node clears that one only on 'exit', which a command that
    // could not be started never emits, so it held the event loop for the whole timeout.
    const limit = opts.timeoutMs ?? 120_000;
    const timer = limit > 0 ? setTimeout(() => child.kill('SIGTERM'), limit) : undefined;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(opts.signal?.aborted ? opts.signal.reason : new ExecError(command, args, null, e.message));
    });
    // Most commands never read stdin and may exit before our write lands; EPIPE there is not a failure.
    child.stdin.on('error', () => {});
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (opts.signal?.aborted) reject(opts.signal.reason);
      else if (code === 0 || (code !== null && opts.okCodes?.includes(code))) resolve({ stdout, stderr });
      else reject(new ExecError(command, args, code, stderr || stdout));
    });
    child.stdin.end(opts.input ?? '');
  });
}
