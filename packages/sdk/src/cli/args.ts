/**
 * Command-line parsing with Terraform's conventions: long flags with one dash (`-auto-approve`,
 * `-out=FILE`, `-lock-timeout=30s`) or two (`--auto-approve`), a value after `=` or as the next
 * argument, booleans as `-flag`, `-flag=true` or `-flag=false`, and `--` ending the flags. Unknown flags
 * and flags of another command are errors naming the closest match.
 */

/** A command-line usage error: reported with a pointer to the command's help, exit 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The command whose help explains the usage (`plan`, `state rm`), if any. */
  command?: string;
}

/** An error the CLI reports as a plain message (no stack trace, no usage hint), exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** One flag of a command. */
export interface FlagSpec {
  /** The long name, spelled as Terraform does (`auto-approve`). */
  name: string;
  /** `bool`: `-x`, `-x=true|false`. `string`: `-x=V` or `-x V` (the last one wins). `list`: repeatable. */
  kind: 'bool' | 'string' | 'list';
  /** What the value is, in help (`FILE`, `DURATION`). */
  value?: string;
  help: string;
  /** Accepted but not listed in help (older spellings kept working). */
  hidden?: boolean;
}

/** Parsed flags: booleans, strings and lists by flag name. */
export type Flags = Record<string, boolean | string | string[] | undefined>;

/** Result of parsing a command's arguments. */
export interface Parsed {
  flags: Flags;
  positionals: string[];
  /** `-help`, `-h` or `--help` was given. */
  help: boolean;
}

/** Edit distance between two strings (insertions, deletions, substitutions, transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word` when it is close enough to be a likely typo, else undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = c.startsWith(word) && word.length >= 3 ? 1 : editDistance(word, c);
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const FLAG_RE = /^--?([A-Za-z][A-Za-z0-9_-]*)(?:=([\s\S]*))?$/;

/**
 * Parses `argv` against a command's flags. `others` maps flag names of other commands to those
 * commands, so a flag that belongs elsewhere is named as such. Throws UsageError.
 */
export function parseFlags(
  command: string,
  argv: readonly string[],
  specs: readonly FlagSpec[],
  others: ReadonlyMap<string, string[]> = new Map(),
): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags: Flags = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const m = FLAG_RE.exec(arg);
    if (!m || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw usage(command, `unknown flag ${arg}`);
      positionals.push(arg);
      continue;
    }
    const name = m[1]!;
    const inline = m[2];
    if (name === 'help' || name === 'h') {
      help = true;
      continue;
    }
    const spec = byName.get(name);
    if (!spec) {
      const elsewhere = others.get(name);
      if (elsewhere?.length)
        throw usage(
          command,
          `-${name} is not a flag of ${command}; it is a flag of ${elsewhere.map((c) => `stratus ${c}`).join(', ')}`,
        );
      const near = closest(
        name,
        specs.filter((s) => !s.hidden).map((s) => s.name),
      );
      throw usage(command, `unknown flag -${name} for ${command}${near ? `; did you mean -${near}?` : ''}`);
    }
    if (spec.kind === 'bool') {
      if (inline === undefined || inline === 'true') flags[name] = true;
      else if (inline === 'false') flags[name] = false;
      else throw usage(command, `-${name} takes true or false, not ${JSON.stringify(inline)}`);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length)
        throw usage(command, `-${name} needs a value: -${name}=${spec.value ?? 'VALUE'}`);
      value = argv[++i]!;
    }
    if (spec.kind === 'list') flags[name] = [...((flags[name] as string[] | undefined) ?? []), value];
    else flags[name] = value;
  }
  return { flags, positionals, help };
}

function usage(command: string, message: string): UsageError {
  const e = new UsageError(message);
  e.command = command;
  return e;
}

/** A UsageError that points at `command`'s help. */
export const usageError = usage;

/**
 * Splits an environment variable's value into arguments as a POSIX shell would split words: blanks
 * separate, single quotes keep everything, double quotes keep all but `\"` and `\\`, a backslash
 * escapes the next character. (Terraform splits TF_CLI_ARGS the same way.) Throws on an unclosed quote.
 */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error('unclosed single quote');
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) i++;
        cur += s[i];
      }
      if (i >= s.length) throw new Error('unclosed double quote');
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}
