/** Where in a source file something is. Lines and columns are 1-based. */
export interface SourceRange {
  file: string;
  line: number;
  column: number;
}

/** A problem found in user input, reported with its location rather than thrown. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  message: string;
  /** Attribute path, e.g. `resources.web.properties.networks[0].subnet`. */
  field?: string;
  range?: SourceRange;
}

/** Collects diagnostics so every problem in an input is reported at once. */
export class Diagnostics {
  readonly items: Diagnostic[] = [];

  error(message: string, field?: string, range?: SourceRange): void {
    this.items.push({ severity: 'error', message, field, range });
  }

  warning(message: string, field?: string, range?: SourceRange): void {
    this.items.push({ severity: 'warning', message, field, range });
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }

  /** Adds diagnostics, leaving out any identical to one already here (two layers may find the same problem). */
  append(other: Iterable<Diagnostic>): void {
    const seen = new Set(this.items.map(keyOf));
    for (const d of other) {
      const k = keyOf(d);
      if (seen.has(k)) continue;
      seen.add(k);
      this.items.push(d);
    }
  }
}

const keyOf = (d: Diagnostic) =>
  `${d.severity}\0${d.field ?? ''}\0${d.message}\0${d.range ? `${d.range.file}:${d.range.line}:${d.range.column}` : ''}`;

/** Renders a diagnostic as `file:line:column: error: field: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.range ? `${d.range.file}:${d.range.line}:${d.range.column}: ` : '';
  const field = d.field ? `${d.field}: ` : '';
  return `${where}${d.severity}: ${field}${d.message}`;
}

/** Thrown (only) to carry diagnostics out of a layer that cannot return them, e.g. a CLI command. */
export class DiagnosticsError extends Error {
  override readonly name = 'DiagnosticsError';
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}
