import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from './args.js';

// Apart from session.ts so that the CLI's argument parsing (which asks isStackPath) loads no loader,
// engine or agent client at start.

/** File names that make a path a stack: a stack file, or a stack program. */
const STACK_FILE = /\.(ya?ml|[cm]?[jt]s)$/;

/** Whether `arg` names an existing stack: a stack file or program, or a directory holding stack.yaml. */
export function isStackPath(arg: string): boolean {
  const p = resolve(arg);
  if (!existsSync(p)) return false;
  if (statSync(p).isDirectory()) return existsSync(join(p, 'stack.yaml'));
  return STACK_FILE.test(p);
}

/**
 * Finds the stack file: the argument (a stack file or program, or a directory holding stack.yaml), else
 * the current directory's stack.yaml. Throws CliError saying how to name one when there is none.
 */
export function stackPath(arg: string | undefined): string {
  const p = resolve(arg ?? '.');
  const how =
    'name a stack file or a directory holding stack.yaml as STACK, or run from its directory or with -chdir=DIR';
  if (!existsSync(p)) throw new CliError(`no stack found: ${p} does not exist; ${how}`);
  if (statSync(p).isDirectory()) {
    const f = join(p, 'stack.yaml');
    if (!existsSync(f)) throw new CliError(`no stack found: ${p} has no stack.yaml; ${how}`);
    return f;
  }
  return p;
}
