import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Diagnostic, DiagnosticsError, formatDiagnostic } from '../../diagnostics/index.js';
import { readSavedPlan } from '../../operations/saved-plan.js';
import { CliError, usageError } from '../args.js';
import { out, say } from '../io.js';
import type { Ctx } from '../registry.js';
import { planJson, redact, renderPlan, renderState, styleFor } from '../render.js';
import { backendFor, loadChecked } from '../session.js';

/** Terraform's `validate -json` document for `diagnostics`. */
export function validateJson(diagnostics: readonly Diagnostic[]): unknown {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  return {
    format_version: '1.0',
    valid: errors === 0,
    error_count: errors,
    warning_count: diagnostics.length - errors,
    diagnostics: diagnostics.map((d) => ({
      severity: d.severity,
      summary: d.field ? `${d.field}: ${d.message}` : d.message,
      detail: '',
      ...(d.field ? { field: d.field } : {}),
      ...(d.range
        ? {
            range: {
              filename: d.range.file,
              start: { line: d.range.line, column: d.range.column },
              end: { line: d.range.line, column: d.range.column },
            },
          }
        : {}),
    })),
  };
}

/** `stratus validate [-json] [STACK]`: checks the stack; touches no host. */
export async function cmdValidate(ctx: Ctx): Promise<number> {
  if (ctx.flags.json) {
    try {
      const { diagnostics } = await loadChecked(ctx.stack, { flags: ctx.flags });
      out.write(`${JSON.stringify(validateJson(diagnostics.items), null, 2)}\n`);
      return 0;
    } catch (e) {
      if (!(e instanceof DiagnosticsError)) throw e;
      out.write(`${JSON.stringify(validateJson(e.diagnostics), null, 2)}\n`);
      return 1;
    }
  }
  const { config, diagnostics } = await loadChecked(ctx.stack, { flags: ctx.flags });
  for (const d of diagnostics.items) say(formatDiagnostic(d));
  out.write(`Success! ${config.file} is valid (${config.resources.size} resources).\n`);
  return 0;
}

/** `stratus show [-json] [STACK|PLANFILE]`: the resources in state, or a saved plan; sensitive values redacted. */
export async function cmdShow(ctx: Ctx): Promise<number> {
  const target = ctx.stack;
  if (target && existsSync(target) && statSync(target).isFile()) {
    const saved = readSavedPlan(resolve(target));
    if (saved) {
      if (ctx.flags.json) out.write(`${JSON.stringify(planJson(saved.plan), null, 2)}\n`);
      else {
        out.write(`Saved plan ${target}, made from ${saved.stackFile}:\n\n`);
        out.write(renderPlan(saved.plan, styleFor(out)));
      }
      return 0;
    }
  }
  const { config } = await loadChecked(target);
  const state = await backendFor(config, ctx.flags).read();
  if (ctx.flags.json) {
    const redacted = state && {
      ...state,
      resources: state.resources.map((r) => ({
        ...r,
        attributes: redact(r.type, r.attributes, r.sensitive),
      })),
      outputs: Object.fromEntries(
        Object.entries(state.outputs).map(([k, o]) => [k, o.sensitive ? { ...o, value: null } : o]),
      ),
    };
    out.write(`${JSON.stringify(redacted ?? {}, null, 2)}\n`);
  } else out.write(renderState(state, styleFor(out)));
  return 0;
}

/**
 * `stratus output [STACK] [NAME] [-json|-raw]`: output values; a sensitive one is shown only when asked
 * for by name.
 */
export async function cmdOutput(ctx: Ctx): Promise<number> {
  if (ctx.flags.json && ctx.flags.raw) throw usageError(ctx.command, '-json and -raw exclude each other');
  const { config } = await loadChecked(ctx.stack);
  const state = await backendFor(config, ctx.flags).read();
  const outputs = state?.outputs ?? {};
  const name = ctx.args[0];
  if (name !== undefined) {
    const o = outputs[name];
    if (!o)
      throw new CliError(
        `no output named ${JSON.stringify(name)}; outputs: ${Object.keys(outputs).join(', ') || 'none'}`,
      );
    if (ctx.flags.raw && (o.value === null || typeof o.value === 'object'))
      throw new CliError(`-raw prints strings, numbers and booleans; ${name} is not one (use -json)`);
    out.write(
      ctx.flags.json || typeof o.value !== 'string'
        ? `${JSON.stringify(o.value)}${ctx.flags.raw ? '' : '\n'}`
        : `${o.value}${ctx.flags.raw ? '' : '\n'}`,
    );
    return 0;
  }
  if (ctx.flags.raw) throw usageError(ctx.command, '-raw needs an output NAME');
  if (ctx.flags.json) {
    const shown = Object.entries(outputs).map(([k, o]) => [
      k,
      { sensitive: o.sensitive, value: o.sensitive ? null : o.value },
    ]);
    out.write(`${JSON.stringify(Object.fromEntries(shown), null, 2)}\n`);
  } else {
    for (const [k, o] of Object.entries(outputs))
      out.write(`${k} = ${o.sensitive ? '(sensitive value)' : JSON.stringify(o.value)}\n`);
  }
  return 0;
}

/** `stratus graph [STACK]`: the dependency graph as Graphviz DOT (edges point at dependencies). */
export async function cmdGraph(ctx: Ctx): Promise<number> {
  const { config, graph } = await loadChecked(ctx.stack);
  const q = (s: string) => JSON.stringify(s);
  const lines = ['digraph stratus {', '  rankdir = "BT";', `  label = ${q(config.name)};`];
  for (const n of [...graph.nodes].sort()) {
    const rc = config.resources.get(n)!;
    lines.push(`  ${q(n)} [label = ${q(`${rc.type}\n${n}`)}, shape = box];`);
  }
  for (const n of [...graph.nodes].sort())
    for (const d of graph.dependencies(n).sort()) lines.push(`  ${q(n)} -> ${q(d)};`);
  lines.push('}');
  out.write(`${lines.join('\n')}\n`);
  return 0;
}
