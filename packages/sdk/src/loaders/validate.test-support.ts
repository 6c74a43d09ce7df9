/** Test support: validate a stack file's bytes in-process, as `stratus validate` does, to formatted lines. */
import { formatDiagnostic } from '../diagnostics/index.js';
import { checkStack } from '../engine/check.js';
import { agentHandlers } from '../handlers/index.js';
import { loadStackBytes } from './stack-yaml.js';

/** The file name the diagnostics of {@link validateStack} carry. */
export const STACK_FILE = '/virtual/stack.yaml';

/** Loads and checks `text` (a string, or raw bytes), returning `file:line:col: error: field: message` lines. */
export function validateStack(text: string | Uint8Array): string[] {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const { config, diagnostics } = loadStackBytes(bytes, STACK_FILE);
  const items = [...diagnostics.items];
  if (config && !diagnostics.hasErrors) items.push(...checkStack(config, agentHandlers).diagnostics.items);
  return items.map(formatDiagnostic);
}
