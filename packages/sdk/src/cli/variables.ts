/**
 * Values of a stack's variables from the command line, as Terraform takes them
 * (https://developer.hashicorp.com/terraform/language/values/variables#assigning-values-to-root-module-variables):
 * `STRATUS_VAR_NAME` in the environment (as TF_VAR_NAME), then each `-var-file FILE` (YAML or JSON) in
 * order, then each `-var NAME=VALUE` in order; a later one wins. A required variable still without a
 * value is asked for on a terminal (sensitive ones without echo), unless -input=false.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Node } from 'yaml';
import { Diagnostics, DiagnosticsError } from '../diagnostics/index.js';
import type { VariableBlock, VariableInput } from '../expand/variables.js';
import { isMap, isScalar, LineCounter, parseDocument } from '../util/yaml.generated.js';
import { CliError } from './args.js';
import { canPrompt, err } from './io.js';

/** The prefix of environment variables that give a stack variable its value. */
export const ENV_PREFIX = 'STRATUS_VAR_';

/** The inputs the environment, `-var-file` and `-var` flags give (no prompting). */
export function variableInputs(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Map<string, VariableInput> {
  const inputs = new Map<string, VariableInput>();
  for (const [k, v] of Object.entries(env))
    if (k.startsWith(ENV_PREFIX) && k.length > ENV_PREFIX.length && v !== undefined)
      inputs.set(k.slice(ENV_PREFIX.length), { value: v, fromText: true, origin: k });
  // Undeclared names in the environment are not errors (Terraform ignores them too): kept apart.
  for (const k of inputs.keys()) inputs.get(k)!.origin = `${ENV_PREFIX}${k}`;
  const diags = new Diagnostics();
  for (const f of (flags['var-file'] as string[] | undefined) ?? []) readVarFile(resolve(f), inputs, diags);
  if (diags.hasErrors) throw new DiagnosticsError(diags.items);
  for (const a of (flags.var as string[] | undefined) ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0)
      throw new CliError(
        `-var takes NAME=VALUE, got ${JSON.stringify(a.length > 40 ? `${a.slice(0, 40)}...` : a.split('=')[0])}`,
      );
    inputs.set(a.slice(0, eq), { value: a.slice(eq + 1), fromText: true, origin: '-var' });
  }
  return inputs;
}

/** Reads a var file (a YAML or JSON mapping of names to values) into `inputs`, with each value's place. */
function readVarFile(file: string, inputs: Map<string, VariableInput>, diags: Diagnostics): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(
      `cannot read -var-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const at = (o: number | undefined) => {
    const p = lc.linePos(o ?? 0);
    return { file, line: p.line, column: p.col };
  };
  for (const e of doc.errors) diags.error(e.message.split('\n')[0]!, undefined, at(e.pos[0]));
  if (doc.errors.length) return;
  if (doc.contents === null) return;
  if (!isMap(doc.contents)) {
    diags.error('a var file must be a mapping of variable names to values', undefined, at(0));
    return;
  }
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    inputs.set(key, {
      value: (pair.value as Node | null)?.toJS(doc) ?? null,
      fromText: false,
      origin: `-var-file ${file}`,
      range: at((pair.key as Node | null)?.range?.[0]),
    });
  }
}

/**
 * Asks on the terminal for each required variable in `decls` that `inputs` has no value for (Terraform's
 * `var.NAME` prompt, with its description); a sensitive one is read without echo. Does nothing when the
 * CLI may not prompt; the loader then reports the missing values.
 */
export async function promptMissing(
  decls: readonly VariableBlock[],
  inputs: Map<string, VariableInput>,
): Promise<void> {
  const missing = decls.filter((d) => d.default === undefined && !inputs.has(d.name));
  if (missing.length === 0 || !canPrompt()) return;
  for (const d of missing) {
    const value = await ask(
      `var.${d.name}\n${d.description ? `  ${d.description}\n` : ''}\n  Enter a value: `,
      d.sensitive,
    );
    inputs.set(d.name, { value, fromText: true, origin: 'the prompt' });
  }
}

/** Reads one line from the terminal; with `hidden`, what is typed is not echoed. */
function ask(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolveAnswer) => {
    const rl = createInterface({ input: process.stdin, output: err, terminal: true });
    const out = rl as unknown as { _writeToOutput?: (s: string) => void };
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) err.write('\n');
      resolveAnswer(answer);
    });
    // Only the prompt itself is written; keystrokes are not (readline echoes through _writeToOutput).
    if (hidden) out._writeToOutput = () => {};
  });
}
