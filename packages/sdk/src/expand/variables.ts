/**
 * Gives each declared variable its value: from the inputs (`-var`, `-var-file`, `STRATUS_VAR_NAME`, a
 * prompt: whoever gathered them), else its default; converted to its type and checked by its
 * validation rules. Every problem is a diagnostic; none repeats a value (a variable may be sensitive).
 */
import { convertVariable, formatVariableType, textNeedsParsing, type VariableDecl } from '@stratus/model';
import type { Diagnostics, SourceRange } from '../diagnostics/index.js';
import { parse as parseYaml } from '../util/yaml.generated.js';
import { EvalProblem, evaluate, MISSING } from './evaluate.js';
import type { SourceExpr } from './template.js';

/** One value given for a variable. */
export interface VariableInput {
  value: unknown;
  /** Text as typed (`-var`, environment, prompt): a list or map variable's text is parsed first. */
  fromText: boolean;
  /** Where it came from, for messages: `-var`, `STRATUS_VAR_region`, `a var file`, `the prompt`. */
  origin: string;
  /** Its place in a var file, when it has one. */
  range?: SourceRange;
}

/** A declared variable with where it was declared. */
export type VariableBlock = VariableDecl<SourceExpr> & { range?: SourceRange };

/** Options of {@link assignVariables}. */
export interface AssignOptions {
  /** A required variable without a value is left MISSING (no error): for commands that only read state. */
  lenient?: boolean;
  /** Added to the "is required" error, e.g. why no prompt was possible. */
  missingHint?: string;
}

/**
 * The value of every variable (MISSING for a required one without a value, when lenient), with every
 * problem added to `diags`: a value for an undeclared variable, a missing required value, a value of
 * the wrong type, a failed validation rule (its error_message, at the rule).
 */
export function assignVariables(
  decls: readonly VariableBlock[],
  inputs: ReadonlyMap<string, VariableInput>,
  diags: Diagnostics,
  dir: string,
  opts: AssignOptions = {},
): Map<string, unknown> {
  const values = new Map<string, unknown>();
  const declared = new Map(decls.map((d) => [d.name, d]));
  for (const [name, input] of inputs)
    if (!declared.has(name))
      diags.error(
        `a value was given for variable ${name} (from ${input.origin}), but the stack declares no such variable${declared.size ? ` (variables: ${[...declared.keys()].sort().join(', ')})` : ''}`,
        `variables.${name}`,
        input.range,
      );
  for (const d of decls) {
    const field = `variables.${d.name}`;
    const input = inputs.get(d.name);
    if (!input) {
      if (d.default !== undefined) values.set(d.name, d.default);
      else if (opts.lenient) values.set(d.name, MISSING);
      else
        diags.error(
          `variable ${d.name} is required and has no value: give -var ${d.name}=VALUE, a -var-file, or STRATUS_VAR_${d.name}${opts.missingHint ? ` (${opts.missingHint})` : ''}`,
          field,
          d.range,
        );
      continue;
    }
    let raw = input.value;
    if (input.fromText && textNeedsParsing(d.type) && typeof raw === 'string') {
      try {
        raw = parseYaml(raw);
      } catch {
        diags.error(
          `the value from ${input.origin} is not a ${formatVariableType(d.type)} (write it as JSON, e.g. ["a", "b"] or {"k": "v"})`,
          field,
          input.range ?? d.range,
        );
        continue;
      }
    }
    const c = convertVariable(raw, d.type);
    if ('error' in c) {
      diags.error(`the value from ${input.origin} is not valid: ${c.error}`, field, input.range ?? d.range);
      continue;
    }
    values.set(d.name, c.value);
  }
  // Validation rules read only their own variable (as Terraform's did until 1.9).
  for (const d of decls) {
    if (!values.has(d.name) || values.get(d.name) === MISSING) continue;
    const field = `variables.${d.name}`;
    for (const rule of d.validations) {
      let ok: unknown;
      try {
        ok = evaluate(
          rule.condition.expr,
          rule.condition.text,
          {
            vars: new Map([[d.name, values.get(d.name)]]),
            sensitiveVars: new Set(),
            resources: new Map(),
            dir,
          },
          {},
        );
      } catch (e) {
        if (!(e instanceof EvalProblem)) throw e;
        // A function's message may quote an argument: not for a sensitive variable.
        diags.error(
          d.sensitive
            ? 'validation condition fails on the (sensitive) value; the message is withheld'
            : `validation condition: ${e.message}`,
          `${field}.validation`,
          rule.condition.locate(e.at),
        );
        continue;
      }
      if (typeof ok !== 'boolean')
        diags.error(
          'validation condition must be true or false',
          `${field}.validation`,
          rule.condition.locate(0),
        );
      else if (!ok) diags.error(rule.errorMessage, field, input(d.name) ?? rule.condition.locate(0));
    }
  }
  return values;

  function input(name: string): SourceRange | undefined {
    return inputs.get(name)?.range;
  }
}
