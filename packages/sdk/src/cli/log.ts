import { appendFileSync } from 'node:fs';
import type { ProtocolLog } from '../protocol/types.js';

/** Log levels of STRATUS_LOG, most verbose first (Terraform's TF_LOG levels). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The CLI's debug log, off unless STRATUS_LOG names a level (`trace`, `debug`, `info`, `warn`, `error`;
 * `off` or empty: none). Lines go to stderr, or are appended to STRATUS_LOG_PATH (as TF_LOG_PATH).
 * Callers log names, paths, ids and durations, never attribute values: a value may be a secret.
 */
export class Logger {
  private readonly min: number;

  constructor(
    level: string | undefined,
    private readonly path: string | undefined,
    private readonly stderr: (line: string) => void = (l) => process.stderr.write(l),
  ) {
    const l = (level ?? '').trim().toLowerCase();
    const i = LOG_LEVELS.indexOf(l as LogLevel);
    this.min = l === '' || l === 'off' ? LOG_LEVELS.length : i >= 0 ? i : LOG_LEVELS.length;
    if (l !== '' && l !== 'off' && i < 0)
      this.stderr(
        `warning: STRATUS_LOG=${level} is not a log level (${LOG_LEVELS.join(', ')} or off); not logging\n`,
      );
  }

  /** Whether messages at `level` are written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.min;
  }

  /** Writes `message` with `fields` (small scalars: names, paths, ids, durations) at `level`. */
  write(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    const extra = fields
      ? Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v ?? null)}`)
          .join('')
      : '';
    const line = `${new Date().toISOString()} [${level.toUpperCase()}] stratus: ${message}${extra}\n`;
    if (this.path) {
      try {
        appendFileSync(this.path, line, { mode: 0o600 });
        return;
      } catch {
        // An unwritable log path: the line goes to stderr rather than nowhere.
      }
    }
    this.stderr(line);
  }

  trace = (m: string, f?: Record<string, unknown>) => this.write('trace', m, f);
  debug = (m: string, f?: Record<string, unknown>) => this.write('debug', m, f);
  info = (m: string, f?: Record<string, unknown>) => this.write('info', m, f);
  warn = (m: string, f?: Record<string, unknown>) => this.write('warn', m, f);
  error = (m: string, f?: Record<string, unknown>) => this.write('error', m, f);

  /** The provider protocol's log, written through this one. */
  protocol(): ProtocolLog {
    return {
      debug: (m, f) => this.debug(`provider: ${m}`, f),
      warn: (m, f) => this.warn(`provider: ${m}`, f),
    };
  }
}

/** The CLI's log, from STRATUS_LOG and STRATUS_LOG_PATH. */
export const log = new Logger(process.env.STRATUS_LOG, process.env.STRATUS_LOG_PATH || undefined);

/** Flags whose values may be secret (credentials in URLs, variable values): logged as `-flag=<redacted>`. */
const SECRET_FLAGS = /^(--?(backend-url|var)(=|$))/;

/** `argv` for the log, with the values of flags that may carry secrets replaced. */
export function redactArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = SECRET_FLAGS.exec(a);
    if (!m) out.push(a);
    else if (a.includes('=')) out.push(`${a.slice(0, a.indexOf('='))}=<redacted>`);
    else {
      out.push(a);
      if (i + 1 < argv.length) {
        out.push('<redacted>');
        i++;
      }
    }
  }
  return out;
}
