import { createInterface } from 'node:readline/promises';
import { UsageError } from './args.js';

/** Standard output and error of the CLI. */
export const out = process.stdout;
export const err = process.stderr;

/** Writes a line to stderr. */
export const say = (m: string): void => {
  err.write(`${m}\n`);
};

/** Asks for `yes` on a TTY; without a TTY, only --auto-approve proceeds. */
export async function confirm(question: string, autoApprove: boolean): Promise<boolean> {
  if (autoApprove) return true;
  if (!process.stdin.isTTY)
    throw new UsageError('not running interactively: pass --auto-approve to proceed without confirmation');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(
    `${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `,
  );
  rl.close();
  return answer.trim() === 'yes';
}
