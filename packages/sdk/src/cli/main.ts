#!/usr/bin/env node
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { AgentApiError } from '../client/errors.js';
import { DiagnosticsError } from '../diagnostics/index.js';
import { formatDiagnosticsCapped } from '../diagnostics/limits.js';
import { StateError } from '../state/types.js';
import { CliError, closest, type Flags, parseFlags, splitWords, UsageError, usageError } from './args.js';
import { codeCacheStatus } from './code-cache.js';
import { COMMANDS, GLOBAL_FLAGS, GROUPS } from './commands/index.js';
import { commandHelp, globalHelp, groupHelp } from './help.js';
import { allowInput, out, say } from './io.js';
import { log, redactArgs } from './log.js';
import type { CommandSpec, Ctx } from './registry.js';
import { isStackPath } from './stack-path.js';
import { PLATFORM, STRATUS_VERSION } from './version.js';

const registry = { commands: COMMANDS, groups: GROUPS };
const byName = new Map(COMMANDS.map((c) => [c.name, c]));
const TOP = [...new Set([...COMMANDS.map((c) => c.name.split(' ')[0]!), ...Object.keys(GROUPS), 'help'])];

/** For each flag name, the commands that have it (to name them when a flag is given to another). */
const FLAG_OWNERS = new Map<string, string[]>();
for (const c of COMMANDS)
  for (const f of c.flags) FLAG_OWNERS.set(f.name, [...(FLAG_OWNERS.get(f.name) ?? []), c.name]);

/** A command or group word that does not exist: an error naming the closest one. */
function unknownCommand(word: string, among: string[], group?: string): UsageError {
  const near = closest(word, among);
  const what = group ? `${group} subcommand` : 'command';
  const e = new UsageError(`unknown ${what} ${JSON.stringify(word)}${near ? `; did you mean ${near}?` : ''}`);
  e.command = group;
  return e;
}

/** Resolves `help TOPIC...` / a command's words to its spec, or a group name. */
function lookup(words: string[]): { spec?: CommandSpec; group?: string; used: number } {
  const [first, second] = words;
  if (first === undefined) return { used: 0 };
  if (GROUPS[first] !== undefined) {
    if (second === undefined || second.startsWith('-')) return { group: first, used: 1 };
    const spec = byName.get(`${first} ${second}`);
    if (!spec)
      throw unknownCommand(
        second,
        COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name.split(' ')[1]!),
        first,
      );
    return { spec, used: 2 };
  }
  const spec = byName.get(first);
  if (!spec) throw unknownCommand(first, TOP);
  return { spec, used: 1 };
}

/** STRATUS_CLI_ARGS then STRATUS_CLI_ARGS_<command>, split as a shell would (as TF_CLI_ARGS). */
function envArgs(command: string): { name: string; args: string[] }[] {
  const out: { name: string; args: string[] }[] = [];
  for (const name of ['STRATUS_CLI_ARGS', `STRATUS_CLI_ARGS_${command.replace(/[ -]/g, '_')}`]) {
    const v = process.env[name];
    if (!v) continue;
    try {
      out.push({ name, args: splitWords(v) });
    } catch (e) {
      throw new UsageError(`${name}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Splits STACK off the positionals as the command takes it (see StackArg). */
function splitStack(
  spec: CommandSpec,
  positionals: string[],
  flags: Flags,
): { stack?: string; args: string[] } {
  const alias = flags.stack as string | undefined;
  const st = spec.stack;
  if (st.kind === 'none') return { args: positionals };
  if (st.kind === 'only') {
    if (positionals.length > 1)
      throw usageError(
        spec.name,
        `${spec.name} takes one STACK, got ${positionals.length} arguments: ${positionals.join(' ')}`,
      );
    if (alias !== undefined && positionals.length)
      throw usageError(spec.name, `the stack is named twice: ${positionals[0]} and -stack=${alias}`);
    return { stack: positionals[0] ?? alias, args: [] };
  }
  if (alias !== undefined) return { stack: alias, args: positionals };
  const n = positionals.length;
  if (n > st.max || (n > st.min && isStackPath(positionals[0]!)))
    return { stack: positionals[0], args: positionals.slice(1) };
  return { args: positionals };
}

/** Parses the global options before the command. */
function globals(argv: string[]): {
  chdir?: string;
  help: boolean;
  version: boolean;
  noColor: boolean;
  rest: string[];
} {
  const g = { chdir: undefined as string | undefined, help: false, version: false, noColor: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?([A-Za-z][A-Za-z0-9-]*)(?:=([\s\S]*))?$/.exec(a);
    if (!m) break;
    const [, name, value] = m;
    if (name === 'help' || name === 'h') g.help = true;
    else if (name === 'version' || name === 'v') g.version = true;
    else if (name === 'no-color') g.noColor = true;
    else if (name === 'chdir') {
      const v = value ?? argv[++i];
      if (v === undefined) throw new UsageError('-chdir needs a directory: -chdir=DIR');
      g.chdir = v;
    } else {
      if (FLAG_OWNERS.has(name!))
        throw new UsageError(
          `-${name} is a flag of a command; put it after the command, e.g. stratus ${FLAG_OWNERS.get(name!)![0]} -${name}`,
        );
      const near = closest(name!, [...GLOBAL_FLAGS.map((f) => f.name), 'help', 'version']);
      throw new UsageError(`unknown global flag -${name}${near ? `; did you mean -${near}?` : ''}`);
    }
  }
  return { ...g, rest: argv.slice(i) };
}

function chdir(dir: string): void {
  const p = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(p).isDirectory();
  } catch {
    // Reported below.
  }
  if (!isDir) throw new CliError(`-chdir=${dir}: ${p} is not a directory`);
  process.chdir(p);
  log.debug('changed directory', { dir: p });
}

async function dispatch(argv: string[]): Promise<number> {
  log.debug(`stratus ${STRATUS_VERSION} on ${PLATFORM}`, {
    args: redactArgs(argv).join(' '),
    codeCache: codeCacheStatus() ?? 'none (modules)',
  });
  const g = globals(argv);
  if (g.noColor) process.env.NO_COLOR = '1';
  if (g.version && g.rest.length === 0)
    return byName.get('version')!.run({ command: 'version', flags: {}, args: [], registry });
  const [first, ...afterFirst] = g.rest;
  if (first === undefined) {
    out.write(globalHelp(COMMANDS, GROUPS));
    return g.help ? 0 : 1;
  }
  if (first === 'help') {
    const topic = lookup(afterFirst.filter((a) => !a.startsWith('-')));
    if (topic.spec) out.write(commandHelp(topic.spec));
    else if (topic.group) out.write(groupHelp(topic.group, GROUPS[topic.group]!, COMMANDS));
    else out.write(globalHelp(COMMANDS, GROUPS));
    return 0;
  }
  const found = lookup(g.rest);
  if (found.group) {
    if (g.help || g.rest.slice(1).some((a) => /^--?(help|h)$/.test(a))) {
      out.write(groupHelp(found.group, GROUPS[found.group]!, COMMANDS));
      return 0;
    }
    const e = new UsageError(
      `${found.group} needs a subcommand: ${COMMANDS.filter((c) => c.name.startsWith(`${found.group} `))
        .map((c) => c.name.split(' ')[1])
        .join(', ')}`,
    );
    e.command = found.group;
    throw e;
  }
  const spec = found.spec!;
  if (g.help) {
    out.write(commandHelp(spec));
    return 0;
  }
  const given = g.rest.slice(found.used);
  const fromEnv = envArgs(spec.name);
  // Each variable alone first, so an error in one is reported as coming from it.
  for (const e of fromEnv) {
    try {
      parseFlags(spec.name, e.args, spec.flags, FLAG_OWNERS);
    } catch (err) {
      if (err instanceof UsageError) err.message = `${err.message} (from ${e.name})`;
      throw err;
    }
  }
  const all = [...fromEnv.flatMap((e) => e.args), ...given];
  if (fromEnv.length)
    log.debug('arguments from the environment', {
      args: redactArgs(fromEnv.flatMap((e) => e.args)).join(' '),
    });
  const parsed = parseFlags(spec.name, all, spec.flags, FLAG_OWNERS);
  if (parsed.help) {
    out.write(commandHelp(spec));
    return 0;
  }
  const { flags } = parsed;
  if (flags['no-color']) process.env.NO_COLOR = '1';
  if (flags.input === false) allowInput(false);
  const dir = (flags.chdir as string | undefined) ?? g.chdir;
  if (dir !== undefined) chdir(dir);
  const { stack, args } = splitStack(spec, parsed.positionals, flags);
  const ctx: Ctx = { command: spec.name, flags, args, stack, registry };
  log.debug('running command', { command: spec.name, stack: stack ?? '.', cwd: process.cwd() });
  const started = Date.now();
  try {
    return await spec.run(ctx);
  } finally {
    log.debug('command finished', { command: spec.name, ms: Date.now() - started });
  }
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (e) {
    if (e instanceof DiagnosticsError) {
      for (const line of formatDiagnosticsCapped(e.diagnostics)) say(line);
      const n = e.diagnostics.filter((d) => d.severity === 'error').length;
      say(`${n} error${n === 1 ? '' : 's'}; nothing was changed.`);
    } else if (e instanceof UsageError) {
      say(`error: ${e.message}\nRun \`stratus ${e.command ? `${e.command} ` : ''}-help\` for usage.`);
    } else if (StateError.isInstance(e)) {
      say(`error: ${e.message}`);
      if (e.code === 'locked')
        say(
          'Another run holds the state lock. Wait for it, or retry with -lock-timeout=DURATION to wait for it; if a run crashed, remove its lock with: stratus force-unlock LOCK_ID',
        );
    } else if (e instanceof CliError || AgentApiError.isInstance(e)) {
      say(`error: ${e.message}`);
    } else {
      log.error('unexpected error', { stack: (e as Error).stack });
      say(
        `error: ${(e as Error).message ?? e}${log.enabled('error') ? '' : '\n(STRATUS_LOG=debug shows more)'}`,
      );
    }
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
