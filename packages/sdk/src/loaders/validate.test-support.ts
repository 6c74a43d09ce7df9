/** Test support: validate a stack file's bytes in-process, as `stratus validate` does, to formatted lines. */
import assert from 'node:assert/strict';
import { type Diagnostic, type Diagnostics, formatDiagnostic } from '../diagnostics/index.js';
import { checkStack } from '../engine/check.js';
import type { StackConfig } from '../engine/config.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';

/** Providers for checks (validation is pure). */
const checkProviders = new MemoryHandlers().providers;

import { loadStackBytes } from './stack-yaml.js';

/** The file name the diagnostics of {@link validateStack} carry. */
export const STACK_FILE = '/virtual/stack.yaml';

/** Loads and checks `text` (a string, or raw bytes), returning `file:line:col: error: field: message` lines. */
export function validateStack(text: string | Uint8Array): string[] {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  return loadedDiagnostics(loadStackBytes(bytes, STACK_FILE)).map(formatDiagnostic);
}

/** A billion-laughs bomb (10^9 leaves) defined in `description`, used as `use`. */
export function aliasBomb(use: string): string {
  const names = 'abcdefghi';
  const defs = ['&a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < names.length; i++)
    defs.push(
      `&${names[i]} [${Array(10)
        .fill(`*${names[i - 1]}`)
        .join(', ')}]`,
    );
  return `description: [${defs.join(', ')}]\n${use}`;
}

/**
 * What a loader's result says, as `stratus validate` reports it: the load's diagnostics, and when it
 * made a config without errors, the check's.
 */
export function loadedDiagnostics(r: { config?: StackConfig; diagnostics: Diagnostics }): Diagnostic[] {
  const items = [...r.diagnostics.items];
  if (r.config && !r.diagnostics.hasErrors)
    items.push(...checkStack(r.config, checkProviders).diagnostics.items);
  return items;
}

/**
 * Asserts that every error among `items` has a location (a file `inFile` accepts, a line and a column
 * from 1), as the fuzz tests require of every failure; returns how many errors there were.
 */
export function assertErrorsLocated(items: readonly Diagnostic[], inFile: (file: string) => boolean): number {
  let errors = 0;
  for (const d of items) {
    if (d.severity !== 'error') continue;
    errors++;
    assert.ok(d.range, `an error without a location: ${d.field ?? ''}: ${d.message}`);
    assert.ok(inFile(d.range.file), `an error in ${d.range.file}`);
    assert.ok(Number.isInteger(d.range.line) && d.range.line >= 1, `line ${d.range.line}`);
    assert.ok(Number.isInteger(d.range.column) && d.range.column >= 1, `column ${d.range.column}`);
  }
  return errors;
}

/** `snippet` inserted as a line of `base`, before its line `n` (modulo its line count). */
export function spliceLine(base: string, snippet: string, n: number): string {
  const lines = base.split('\n');
  const at = n % lines.length;
  return [...lines.slice(0, at), snippet, ...lines.slice(at)].join('\n');
}
