import { fileURLToPath } from 'node:url';
import type { SourceRange } from '../diagnostics/index.js';

/** `at fn (file:line:col)` or `at file:line:col`; the location may be a path or a file: URL. */
const FRAME = /^\s*at (?:async )?(?:.*? \()?((?:file:\/\/|\/|[A-Za-z]:[\\/]).*?):(\d+):(\d+)\)?$/;

/** The source location in one line of a V8 stack trace, if it names a file. */
export function parseFrame(line: string): SourceRange | undefined {
  const m = FRAME.exec(line);
  if (!m) return undefined;
  // tsx tags modules it loaded with a namespace query; the file is the same.
  const where = m[1]!.replace(/\?.*$/, '');
  const file = where.startsWith('file://') ? fileURLToPath(where) : where;
  return { file, line: Number(m[2]), column: Number(m[3]) };
}

/**
 * Where the caller of `fn` is: for a constructor, the `new Xxx(...)` expression. With tsx (source maps
 * on) this is the line and column in the TypeScript source. Undefined when the caller's frame names no
 * file (code tsx ran as CommonJS shows as a data: URL): a frame further up would be someone else's line.
 */
// biome-ignore lint/complexity/noBannedTypes: captureStackTrace takes any function, constructors included.
export function callerOf(fn: Function): SourceRange | undefined {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, fn);
  const caller = holder.stack?.split('\n')[1];
  return caller === undefined ? undefined : parseFrame(caller);
}
