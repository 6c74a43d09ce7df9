import { closeSync, openSync, writeSync } from 'node:fs';

/** Levels the agent logs at, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * A structured logger writing one JSON object per line to the log destination: stderr, or the file
 * named by STRATUS_AGENT_LOG_FILE (or set with {@link setLogFile}).
 */
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

/** The open log file (fd and path), or null for stderr; opened on the first line written. */
let sink: { path: string; fd: number } | null = null;
let sinkPath: string | null | undefined;

/**
 * Sends every logger's lines to `path` (appended, created with mode 0600), or back to stderr with
 * null. Without a call, STRATUS_AGENT_LOG_FILE names the file when set. Lines are written
 * synchronously, one write each, so a crash loses none already logged and concurrent writers
 * appending to one file do not interleave within a line.
 */
export function setLogFile(path: string | null): void {
  if (sink) closeSync(sink.fd);
  sink = null;
  sinkPath = path;
}

function write(level: LogLevel, component: string, msg: string, fields?: Record<string, unknown>): void {
  if (ORDER[level] < ORDER[threshold]) return;
  const line = `${JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields })}\n`;
  if (sinkPath === undefined) sinkPath = process.env.STRATUS_AGENT_LOG_FILE || null;
  if (sinkPath !== null && sink?.path !== sinkPath)
    sink = { path: sinkPath, fd: openSync(sinkPath, 'a', 0o600) };
  if (sink) writeSync(sink.fd, line);
  else process.stderr.write(line);
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
