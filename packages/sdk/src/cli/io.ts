import { createInterface } from 'node:readline/promises';
import { CliError } from './args.js';

/** Standard output and error of the CLI. */
export const out = process.stdout;
export const err = process.stderr;

/** Where `say` goes instead of stderr (the -json UI turns messages into `log` lines on stdout). */
let sayHook: ((m: string) => void) | undefined;

/** Routes `say` messages to `hook` (undefined: back to stderr). */
export function redirectSay(hook: ((m: string) => void) | undefined): void {
  sayHook = hook;
}

/** Writes a message for the user: a line on stderr, or a `log` message of the -json UI. */
export const say = (m: string): void => {
  if (sayHook) sayHook(m);
  else err.write(`${m}\n`);
};

/** Whether the CLI may ask questions (Terraform's -input; false with -input=false). */
let inputAllowed = true;

/** Whether the CLI may prompt now: input allowed (no -input=false) and stdin is a terminal. */
export function canPrompt(): boolean {
  return inputAllowed && process.stdin.isTTY === true;
}

/** Whether -input=false was not given (the terminal may still be missing: see {@link canPrompt}). */
export function inputAllowedNow(): boolean {
  return inputAllowed;
}

/** Sets whether the CLI may prompt (`-input=false` turns prompting off). */
export function allowInput(allowed: boolean): void {
  inputAllowed = allowed;
}

/**
 * Asks for `yes` on a TTY. Only `-auto-approve` proceeds without a TTY or with `-input=false`; then the
 * error says so (exit 1, nothing changed).
 */
export async function confirm(question: string, autoApprove: boolean): Promise<boolean> {
  if (autoApprove) return true;
  if (!inputAllowed)
    throw new CliError('approval is needed but -input=false forbids asking; pass -auto-approve to proceed');
  if (!process.stdin.isTTY)
    throw new CliError('not running interactively: pass -auto-approve to proceed without confirmation');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(
    `${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `,
  );
  rl.close();
  return answer.trim() === 'yes';
}
