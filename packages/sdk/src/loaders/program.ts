import { existsSync } from 'node:fs';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseFrame } from '../constructs/location.js';
import { isStack } from '../constructs/stack.js';
import { toStackConfig } from '../constructs/synth.js';
import { Diagnostics, type SourceRange } from '../diagnostics/index.js';
import { importModule } from '../util/import-module.js';
import type { LoadResult } from './stack-yaml.js';

/** File extensions of stack programs; any other path is a stack file. */
export const PROGRAM_EXTENSIONS: readonly string[] = ['.ts', '.mts', '.js', '.mjs'];

/** Whether `path` names a stack program (TypeScript or JavaScript) rather than a stack file. */
export function isProgramPath(path: string): boolean {
  return PROGRAM_EXTENSIONS.includes(extname(path));
}

/** The SDK's own code (src or dist), whose frames are never the place to point at. */
const SDK_ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const OWN = [`${SDK_ROOT}${sep}src${sep}`, `${SDK_ROOT}${sep}dist${sep}`];
/**
 * Stratus' own packages: a program's imports of them are not inputs of its plans. Found on first use
 * (resolving a package costs every command that loads this module about 5 ms).
 */
let stratusRoots: string[] | undefined;
const ownPackageRoots = (): string[] =>
  (stratusRoots ??= [
    `${SDK_ROOT}${sep}`,
    `${resolve(fileURLToPath(import.meta.resolve('@stratus/model')), '../..')}${sep}`,
  ]);

/**
 * Where a program's error happened: the position esbuild reports for a syntax error, else the first
 * stack frame in user code (not node's, a dependency's or the SDK's own), else the program's first line.
 */
function errorLocation(e: unknown, file: string): SourceRange {
  const text = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : '';
  const syntax = /^(\/[^\n]*?):(\d+):(\d+): ERROR: /m.exec(text);
  if (syntax) return { file: syntax[1]!, line: Number(syntax[2]), column: Number(syntax[3]) };
  for (const line of (e instanceof Error ? (e.stack ?? '') : '').split('\n')) {
    const r = parseFrame(line);
    if (r && !r.file.includes(`${sep}node_modules${sep}`) && !OWN.some((d) => r.file.startsWith(d))) return r;
  }
  return { file, line: 1, column: 1 };
}

/** The first line of an error's message: esbuild's and node's messages go on with details. */
function messageOf(e: unknown): string {
  if (!(e instanceof Error)) return `threw ${JSON.stringify(e) ?? String(e)}`;
  const first = e.message.split('\n').find((l) => l.trim() !== '') ?? e.name;
  const syntax = /: ERROR: (.*)$/m.exec(e.message);
  return syntax ? syntax[1]! : `${e.name === 'Error' ? '' : `${e.name}: `}${first}`;
}

/**
 * Loads a stack program: a TypeScript or JavaScript module, run with tsx, whose default export is a
 * `Stack` or a function (possibly async) returning one. Relative paths in it resolve against the
 * program's directory. Whatever the program throws is reported as a diagnostic at the line that threw.
 */
export async function loadProgram(path: string): Promise<LoadResult> {
  const file = resolve(path);
  const diags = new Diagnostics();
  const top: SourceRange = { file, line: 1, column: 1 };
  if (!existsSync(file)) {
    diags.error('cannot read stack program: no such file', undefined, top);
    return { diagnostics: diags };
  }
  let exported: unknown;
  const inputs = new Set<string>([file]);
  try {
    // Loaded on demand: commands on stack files never pay for the TypeScript loader. By importModule,
    // as the CLI's bundle cannot import() (util/import-module.ts).
    const { tsImport } = await importModule<typeof import('tsx/esm/api')>('tsx/esm/api');
    const mod = (await tsImport(pathToFileURL(file).href, {
      parentURL: import.meta.url,
      // Every local module the program imports is an input of the plan: a saved plan checks them all.
      onImport: (url: string) => {
        if (!url.startsWith('file:')) return;
        const p = fileURLToPath(url.split('?')[0]!);
        if (!p.includes(`${sep}node_modules${sep}`) && !ownPackageRoots().some((d) => p.startsWith(d)))
          inputs.add(p);
      },
    })) as { default?: unknown };
    exported = mod.default;
    // A CommonJS module's default is its module.exports, which holds the compiled ES default.
    if (!isStack(exported) && typeof exported === 'object' && exported !== null && 'default' in exported)
      exported = (exported as { default: unknown }).default;
    if (typeof exported === 'function') exported = await exported();
  } catch (e) {
    diags.error(`the program failed: ${messageOf(e)}`, undefined, errorLocation(e, file));
    return { diagnostics: diags };
  }
  if (!isStack(exported)) {
    const got = exported === undefined ? 'nothing' : `a ${typeof exported}`;
    diags.error(
      `the default export must be a Stack, or a function returning one (possibly async); got ${got}`,
      undefined,
      top,
    );
    return { diagnostics: diags };
  }
  const loaded = toStackConfig(exported, { file, dir: dirname(file) });
  if (loaded.config) loaded.config.inputs = [...inputs].sort();
  if (exported.resources.some((r) => !r.location))
    loaded.diagnostics.warning(
      'source positions are not available, so problems are reported at line 1; a program run as CommonJS ' +
        'has none: name it .mts, or add "type": "module" to its package.json',
      undefined,
      top,
    );
  return loaded;
}
