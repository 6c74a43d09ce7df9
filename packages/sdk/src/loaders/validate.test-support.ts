/** Test support: validate a stack file's bytes in-process, as `stratus validate` does, to formatted lines. */
import { formatDiagnostic } from '../diagnostics/index.js';
import { checkStack } from '../engine/check.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';

/** Providers for checks (validation is pure). */
const checkProviders = new MemoryHandlers().providers;

import { loadStackBytes } from './stack-yaml.js';

/** The file name the diagnostics of {@link validateStack} carry. */
export const STACK_FILE = '/virtual/stack.yaml';

/** Loads and checks `text` (a string, or raw bytes), returning `file:line:col: error: field: message` lines. */
export function validateStack(text: string | Uint8Array): string[] {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const { config, diagnostics } = loadStackBytes(bytes, STACK_FILE);
  const items = [...diagnostics.items];
  if (config && !diagnostics.hasErrors) items.push(...checkStack(config, checkProviders).diagnostics.items);
  return items.map(formatDiagnostic);
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
