/**
 * Bounds on what diagnostics print, so error output grows linearly with the number of problems and stays
 * readable: each message lists at most a few names, and a report shows at most {@link MAX_SHOWN}
 * diagnostics followed by how many more there are (as compilers such as tsc and rustc do).
 */
import { type Diagnostic, formatDiagnostic } from './index.js';

/** Most diagnostics a report prints. */
export const MAX_SHOWN = 100;

/** Most names a message lists. */
export const MAX_NAMES = 10;

/**
 * `names` sorted and joined for a message, at most {@link MAX_NAMES} of them and a count of the rest
 * (`a, b, c and 4997 more`); `none` when empty. Listing every name in every message made the output
 * quadratic: 5,000 bad references to a 5,000-resource stack printed 170 MB.
 */
export function listNames(names: Iterable<string>, max = MAX_NAMES): string {
  const all = [...names].sort();
  if (all.length === 0) return 'none';
  const shown = all.slice(0, max).join(', ');
  return all.length > max ? `${shown} and ${all.length - max} more` : shown;
}

/**
 * The lines of a report of `diagnostics`: errors first kept in their order, at most `max` lines of
 * diagnostics, then `... and N more errors (M warnings) not shown` when some were left out.
 */
export function formatDiagnosticsCapped(diagnostics: readonly Diagnostic[], max = MAX_SHOWN): string[] {
  const lines = diagnostics.slice(0, max).map(formatDiagnostic);
  const rest = diagnostics.slice(max);
  if (rest.length > 0) {
    const errors = rest.filter((d) => d.severity === 'error').length;
    const warnings = rest.length - errors;
    const parts = [
      errors && `${errors} more error${errors === 1 ? '' : 's'}`,
      warnings && `${warnings} more warning${warnings === 1 ? '' : 's'}`,
    ].filter(Boolean);
    lines.push(`... and ${parts.join(' and ')} not shown (fix the ones above first)`);
  }
  return lines;
}
