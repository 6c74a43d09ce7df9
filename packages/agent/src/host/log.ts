/** Levels the agent logs at, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A structured logger writing one JSON object per line to stderr. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

let threshold: LogLevel = (process.env.STRATUS_AGENT_LOG_LEVEL as LogLevel | undefined) ?? 'info';

/** Sets the minimum level written by every logger. */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

function write(level: LogLevel, component: string, msg: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < ORDER[threshold]) return;
  const line = { time: new Date().toISOString(), level, component, msg, ...fields };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

/** Returns a logger whose lines carry `component`. */
export function logger(component: string): Logger {
  return {
    debug: (m, f) => write('debug', component, m, f),
    info: (m, f) => write('info', component, m, f),
    warn: (m, f) => write('warn', component, m, f),
    error: (m, f) => write('error', component, m, f),
  };
}
