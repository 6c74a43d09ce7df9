import { usageError } from '../args.js';
import { bashCompletion, zshCompletion } from '../completion.js';
import { out } from '../io.js';
import type { Ctx } from '../registry.js';
import { PLATFORM, STRATUS_VERSION } from '../version.js';

/** `stratus version [-json]`: the version and platform (Terraform prints the same two lines). */
export async function cmdVersion(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw usageError(ctx.command, 'version takes no arguments');
  if (ctx.flags.json)
    out.write(`${JSON.stringify({ stratus_version: STRATUS_VERSION, platform: PLATFORM }, null, 2)}\n`);
  else out.write(`Stratus v${STRATUS_VERSION}\non ${PLATFORM}\n`);
  return 0;
}

/** `stratus schema`: the JSON Schema of stack files, generated from the registry. */
export async function cmdSchema(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw usageError(ctx.command, 'schema takes no arguments');
  // Imported here: the schema pulls in every resource schema, which `version` and `completion` do not need.
  const { stackSchema } = await import('../schema.js');
  out.write(`${JSON.stringify(stackSchema(), null, 2)}\n`);
  return 0;
}

/** `stratus completion bash|zsh`: a completion script for the shell. */
export async function cmdCompletion(ctx: Ctx): Promise<number> {
  const shell = ctx.args[0];
  if (ctx.args.length !== 1 || (shell !== 'bash' && shell !== 'zsh'))
    throw usageError(
      ctx.command,
      `completion takes the shell: bash or zsh${shell ? `, not ${JSON.stringify(shell)}` : ''}`,
    );
  const { commands, groups } = ctx.registry;
  out.write(shell === 'bash' ? bashCompletion(commands, groups) : zshCompletion(commands, groups));
  return 0;
}
