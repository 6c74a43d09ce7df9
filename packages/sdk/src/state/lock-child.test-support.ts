/** Test support only (not built into dist): a separate process that takes a state lock and holds it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A child process holding a state lock until it is killed. */
export interface LockHolder {
  child: ChildProcess;
  /** The id of the lock it holds. */
  lockId: string;
  /** Kills it with SIGKILL (no release runs) and resolves once it has exited and been reaped. */
  kill(): Promise<void>;
}

/**
 * Starts a node process that builds a backend with `backend` (a JS expression over `LocalBackend` and
 * `PostgresBackend`, e.g. `new LocalBackend("/tmp/x.json")`), takes its lock for `operation`, prints the
 * lock id and waits. Resolves when the lock is held; rejects with the child's output if it exits first.
 */
export function holdLock(backend: string, operation = 'apply'): Promise<LockHolder> {
  const local = fileURLToPath(new URL('./local.ts', import.meta.url));
  const pg = fileURLToPath(new URL('./postgres.ts', import.meta.url));
  const script = `
    const { LocalBackend } = await import(${JSON.stringify(local)});
    const { PostgresBackend } = await import(${JSON.stringify(pg)});
    const b = ${backend};
    await b.lock(${JSON.stringify(operation)});
    const held = b.path ? JSON.parse((await import('node:fs')).readFileSync(b.path + '.lock', 'utf8')).id : 'pg';
    process.stdout.write('locked ' + held + '\\n');
    setInterval(() => {}, 1 << 30);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b;
      const m = /^locked (\S+)$/m.exec(out);
      if (m)
        resolve({
          child,
          lockId: m[1]!,
          kill: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            await exited;
          },
        });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b));
    void exited.then(() => reject(new Error(`the lock holder exited before holding the lock:\n${out}`)));
  });
}
