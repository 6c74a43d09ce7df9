/** Test support only (not built into dist): a throwaway PostgreSQL server for the backend tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Where Debian's postgresql package puts the server binaries; STRATUS_PG_BIN overrides it. */
const PG_BIN = process.env.STRATUS_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A throwaway PostgreSQL server for tests. */
export interface PgServer {
  /** Connection URL for the `postgres` superuser over the server's unix socket (trust auth, no password). */
  url: string;
  /** The temp dir holding data, socket and log; removed by `stop()`. */
  dir: string;
  /** Stops the server (fast shutdown) and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** Exit status, stdout and stderr of a finished command. */
interface RunResult {
  code: number | null;
  out: string;
}

/** Runs `argv` (no shell) and collects its output; rejects only if it cannot be spawned. */
function run(argv: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

/** initdb and postgres refuse to run as root, so root runs them as the `postgres` OS user. */
function asPostgres(argv: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...argv] : argv;
}

async function runOk(argv: string[]): Promise<void> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}:\n${r.out.trim()}`);
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

async function accepts(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * SIGQUIT (immediate shutdown) to the postmaster named in postmaster.pid, and SIGKILL to the runuser
 * wrapper: killing only the wrapper would orphan the server. Synchronous, so it works in an exit handler.
 */
function killHard(data: string, child: ChildProcess | undefined): void {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGQUIT');
  } catch {
    // No pid file: the server never started or is already gone.
  }
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts a fresh PostgreSQL server for tests: `initdb` into a new temp dir (owned by `postgres`, since
 * the server refuses root) and `postgres` listening only on a unix socket inside that dir, so several
 * callers at once never share a port, a socket or data. Resolves once the server answers a query.
 */
export async function startPostgres(opts: { timeoutMs?: number } = {}): Promise<PgServer> {
  const dir = await mkdtemp(join(tmpdir(), 'stratus-pg-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  const logPath = join(dir, 'postgres.log');
  let child: ChildProcess | undefined;
  // A test process that exits without calling stop() must not leave a server behind.
  const onExit = () => {
    killHard(data, child);
    rmSync(dir, { recursive: true, force: true });
  };
  const cleanup = async () => {
    process.off('exit', onExit);
    if (child && child.exitCode === null && child.signalCode === null) {
      await run(asPostgres([join(PG_BIN, 'pg_ctl'), 'stop', '-D', data, '-m', 'fast', '-w', '-t', '30']));
      if (!(await exited(child, 5000))) {
        // pg_ctl failed: take the server down hard.
        killHard(data, child);
        await exited(child, 5000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  try {
    mkdirSync(sock, { mode: 0o700 });
    if (process.getuid?.() === 0) await runOk(['chown', '-R', 'postgres:postgres', dir]);
    // --no-sync and fsync=off: this data is thrown away, so durability only costs time.
    await runOk(
      asPostgres([
        join(PG_BIN, 'initdb'),
        '-D',
        data,
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--no-sync',
      ]),
    );
    const argv = asPostgres([
      join(PG_BIN, 'postgres'),
      '-D',
      data,
      '-k',
      sock,
      '-c',
      'listen_addresses=',
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
    ]);
    const log = openSync(logPath, 'a', 0o644);
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const url = `postgresql://postgres@/postgres?host=${encodeURIComponent(sock)}`;
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `postgres exited during startup (${child.exitCode ?? child.signalCode}):\n${tail(logPath)}`,
        );
      if (await accepts(url)) break;
      if (Date.now() > deadline)
        throw new Error(`postgres did not accept connections in time:\n${tail(logPath)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    let stopped: Promise<void> | undefined;
    return {
      url,
      dir,
      stop: () => {
        stopped ??= cleanup();
        return stopped;
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
