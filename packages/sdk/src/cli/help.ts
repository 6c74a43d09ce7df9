import type { FlagSpec } from './args.js';
import type { CommandSpec } from './registry.js';

const flagLabel = (f: FlagSpec) =>
  f.kind === 'bool' ? `-${f.name}` : `-${f.name}=${f.value ?? 'VALUE'}${f.kind === 'list' ? ' ...' : ''}`;

function table(rows: [string, string][], indent = '  '): string {
  const w = Math.min(Math.max(...rows.map(([a]) => a.length)) + 2, 28);
  return rows
    .map(([a, b]) =>
      a.length + 2 > w ? `${indent}${a}\n${indent}${' '.repeat(w)}${b}` : `${indent}${a.padEnd(w)}${b}`,
    )
    .join('\n');
}

/** `stratus -help`: the commands, global options and environment. */
export function globalHelp(commands: readonly CommandSpec[], groups: Record<string, string>): string {
  const rows: [string, string][] = [];
  const seen = new Set<string>();
  for (const c of commands) {
    const top = c.name.split(' ')[0]!;
    if (seen.has(top)) continue;
    seen.add(top);
    rows.push(groups[top] !== undefined ? [top, groups[top]!] : [c.name, c.summary]);
  }
  return `Usage: stratus [global options] <command> [options] [args]

Commands:
${table(rows)}

Global options (before the command):
${table([
  ['-chdir=DIR', 'Switch to DIR first: its stack.yaml is the stack.'],
  ['-help', "This help; a command's help: stratus plan -help, stratus help plan."],
  ['-version', 'The version (as stratus version).'],
  ['-no-color', 'No colour in the output.'],
])}

Flags take one dash or two (-auto-approve, --auto-approve), values after = or as the next argument
(-out=FILE, -out FILE), and booleans true or false (-lock=false).

Environment:
${table([
  ['STRATUS_CLI_ARGS', 'Flags added to every command, e.g. "-no-color".'],
  [
    'STRATUS_CLI_ARGS_<cmd>',
    'Flags added to one command (STRATUS_CLI_ARGS_plan, STRATUS_CLI_ARGS_state_list).',
  ],
  ['STRATUS_LOG', 'Debug log of the CLI on stderr: trace, debug, info, warn or error.'],
  ['STRATUS_LOG_PATH', 'Append the log to this file instead.'],
  ['NO_COLOR', 'No colour (as -no-color).'],
  ['STRATUS_BACKEND_URL', 'PostgreSQL URL for a stack whose backend is postgres without url.'],
  ['STRATUS_AGENT_STATE_DIR', 'State directory of the local agent (and STRATUS_AGENT_SOCKET, its socket).'],
])}
`;
}

/** Wraps each line of `text` at `width` columns, at spaces. */
function wrap(text: string, width = 100): string {
  return text
    .split('\n')
    .map((line) => {
      const out: string[] = [];
      let cur = '';
      for (const word of line.split(' ')) {
        if (cur && cur.length + 1 + word.length > width) {
          out.push(cur);
          cur = word;
        } else cur = cur ? `${cur} ${word}` : word;
      }
      out.push(cur);
      return out.join('\n');
    })
    .join('\n');
}

/** `stratus COMMAND -help`. */
export function commandHelp(c: CommandSpec): string {
  const flags = c.flags.filter((f) => !f.hidden);
  return `Usage: stratus ${c.usage}

${c.summary}.

${wrap(c.description)}
${flags.length ? `\nOptions:\n${table(flags.map((f) => [flagLabel(f), f.help]))}\n` : ''}`;
}

/** `stratus GROUP -help`, e.g. `stratus state -help`: its subcommands. */
export function groupHelp(group: string, summary: string, commands: readonly CommandSpec[]): string {
  const subs = commands.filter((c) => c.name.startsWith(`${group} `));
  return `Usage: stratus ${group} <subcommand> [options] [args]

${summary}.

Subcommands:
${table(subs.map((c) => [c.name.split(' ')[1]!, c.summary]))}

Run \`stratus ${group} <subcommand> -help\` for one's options.
`;
}
