/**
 * The CLI's commands and their flags, defined once: parsing, `-help`, "did you mean", inapplicable-flag
 * errors and the shell completion scripts all read this list.
 */
import type { FlagSpec, Flags } from './args.js';

/** What a command is run with. */
export interface Ctx {
  /** The command as typed, e.g. `plan` or `state rm`. */
  command: string;
  flags: Flags;
  /** Positional arguments after the stack (when one was named) was taken off. */
  args: string[];
  /** The stack named on the command line (positional STACK or the -stack alias); undefined: `.`. */
  stack?: string;
  /** Every command and command group (for completion and help). */
  registry: { commands: readonly CommandSpec[]; groups: Record<string, string> };
}

/**
 * How a command takes STACK: `only` — its one positional is STACK (or a saved plan); `leading` — STACK
 * may come before `min`..`max` other arguments (it is taken when there are more than `max`, or more
 * than `min` and the first names an existing stack); `none` — the command reads no stack.
 */
export type StackArg = { kind: 'only' } | { kind: 'leading'; min: number; max: number } | { kind: 'none' };

/** One command (or subcommand, named `state list`). */
export interface CommandSpec {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage line after `stratus `, e.g. `plan [options] [STACK]`. */
  usage: string;
  /** Paragraphs for `-help`. */
  description: string;
  flags: FlagSpec[];
  stack: StackArg;
  /** Values the first positional takes, for completion (e.g. `bash`, `zsh`). */
  choices?: string[];
  /**
   * Runs the command; the exit code. Import the implementation inside (`(ctx) => import('./x.js').then(...)`)
   * so that other commands do not load it at start.
   */
  run(ctx: Ctx): Promise<number>;
}

const f = (name: string, kind: FlagSpec['kind'], help: string, value?: string): FlagSpec => ({
  name,
  kind,
  help,
  ...(value ? { value } : {}),
});

/** Every command accepts -no-color (so STRATUS_CLI_ARGS=-no-color works everywhere). */
export const NO_COLOR = f('no-color', 'bool', 'No colour in the output (as NO_COLOR=1).');
/** The stack's directory, for commands that read a stack. */
export const CHDIR = f('chdir', 'string', 'Switch to DIR first: its stack.yaml is the stack.', 'DIR');
/** Older spelling of a stack argument, still accepted. */
export const STACK_ALIAS: FlagSpec = {
  name: 'stack',
  kind: 'string',
  value: 'PATH',
  help: 'The stack (as STACK).',
  hidden: true,
};
/** Where state is. */
export const STATE_FLAGS = [
  f('state', 'string', 'State file (default: stratus.state.json beside the stack file).', 'PATH'),
  f('backend-url', 'string', 'Keep state in this PostgreSQL database instead.', 'URL'),
];
/** The state lock. */
export const LOCK_FLAGS = [
  f('lock', 'bool', 'Take the state lock (default true; -lock=false skips it: dangerous).'),
  f(
    'lock-timeout',
    'string',
    'Wait up to DURATION (e.g. 60s) for a lock another run holds (default 0s).',
    'DURATION',
  ),
];
/** Whether prompts are allowed. */
export const INPUT = f('input', 'bool', 'Ask for input when needed (default true; -input=false never asks).');

/** Flags of every command that reads a stack. */
export const STACK_FLAGS = [CHDIR, STACK_ALIAS, NO_COLOR];
