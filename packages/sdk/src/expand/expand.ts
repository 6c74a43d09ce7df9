/**
 * Expansion: a stack template (template.ts) and its variables' values in, the engine's StackConfig
 * out. Locals are evaluated once; a resource with `count: N` becomes instances `web[0]`..`web[N-1]`,
 * one with `forEach` (a map, or a list of strings) instances `web["KEY"]`; their expressions see
 * `count.index` / `each.key` / `each.value`. References to resources stay references, for the engine.
 * Properties read from a sensitive variable are marked sensitive on the instance (the engine redacts
 * them as it does attributes derived from a sensitive attribute).
 */

import { formatPath } from '@stratus/model';
import { Diagnostics } from '../diagnostics/index.js';
import type { OutputConfig, ResourceConfig, StackConfig } from '../engine/config.js';
import type { Value } from '../engine/expr.js';
import { normalizeValues } from '../engine/normalize.js';
import { instanceName } from './address.js';
import {
  EvalProblem,
  evaluate,
  isSymbolic,
  MissingValue,
  type ResourceShape,
  type Scope,
  type Taint,
} from './evaluate.js';
import { SourceExpr, type StackTemplate, type Tree } from './template.js';
import { type AssignOptions, assignVariables, type VariableInput } from './variables.js';

/** Thrown after a problem was reported, to stop evaluating what needed the value. */
class Reported extends Error {}

/** Options of {@link expandStack}. */
export type ExpandOptions = AssignOptions;

/**
 * Expands `t` with the given variable inputs. The config is returned when nothing went wrong
 * (otherwise `diagnostics` say what); with `lenient`, whatever needs a variable that has no value is
 * left out silently (and marked invalid, so references to it are not errors either).
 */
export function expandStack(
  t: StackTemplate,
  inputs: ReadonlyMap<string, VariableInput>,
  opts: ExpandOptions = {},
  diags = new Diagnostics(),
): { config?: StackConfig; diagnostics: Diagnostics } {
  const before = diags.items.length;
  const vars = assignVariables(t.variables, inputs, diags, t.dir, opts);
  // Without its variables' values nothing can be expanded; problems the loader found are kept.
  if (diags.items.slice(before).some((d) => d.severity === 'error')) return { diagnostics: diags };
  const sensitiveVars = new Set(t.variables.filter((v) => v.sensitive).map((v) => v.name));
  const config: StackConfig = {
    name: t.name,
    file: t.file,
    dir: t.dir,
    ...(t.inputs ? { inputs: t.inputs } : {}),
    resources: new Map(),
    invalid: new Set(t.invalid),
    outputs: new Map(),
    ...(t.backend ? { backend: t.backend } : {}),
  };

  /**
   * Reports a problem in `src` (at one of its offsets), then stops the evaluation that found it. A
   * function's message may quote an argument (a map key, a host number): when the expression read a
   * sensitive value, only where and which value are said.
   */
  const fail = (e: unknown, src: SourceExpr, field: string, taint: Taint): never => {
    if (e instanceof EvalProblem) {
      const message = taint.sensitive
        ? `this expression uses the sensitive value ${taint.sensitive} and fails (the message is withheld so as not to show it)`
        : e.message;
      diags.error(message, field, src.locate(e.at));
      throw new Reported();
    }
    throw e;
  };

  const shapes = new Map<string, ResourceShape>();
  for (const r of t.resources.values())
    shapes.set(r.name, { mode: r.count ? 'count' : r.forEach ? 'forEach' : 'single' });
  for (const n of t.invalid) shapes.set(n, { mode: 'single' });

  const localNames = [...t.locals.keys()];
  const locals = new Map<string, { value: Value; sensitive?: string }>();
  const evaluating: string[] = [];
  const base: Omit<Scope, 'resources'> & { resources: Map<string, ResourceShape> } = {
    vars,
    sensitiveVars,
    localNames,
    resources: shapes,
    dir: t.dir,
    local: (name, at, taint) => {
      let got = locals.get(name);
      if (!got) {
        if (evaluating.includes(name))
          throw new EvalProblem(
            `local.${name} depends on itself: ${[...evaluating.slice(evaluating.indexOf(name)), name].map((n) => `local.${n}`).join(' -> ')}`,
            at,
          );
        evaluating.push(name);
        try {
          const lt: Taint = {};
          got = { value: evalTree(t.locals.get(name)!, base, lt, `locals.${name}`) };
          if (lt.sensitive) got.sensitive = lt.sensitive;
          locals.set(name, got);
        } finally {
          evaluating.pop();
        }
      }
      if (got.sensitive) taint.sensitive ??= got.sensitive;
      return got.value;
    },
  };

  /** Evaluates a declared value; problems are reported at their expression, then Reported is thrown. */
  function evalTree(tree: Tree, scope: Scope, taint: Taint, field: string): Value {
    if (tree instanceof SourceExpr) {
      try {
        return evaluate(tree.expr, tree.text, scope, taint);
      } catch (e) {
        return fail(e, tree, field, taint);
      }
    }
    if (Array.isArray(tree)) return tree.map((x, i) => evalTree(x, scope, taint, `${field}[${i}]`));
    if (tree !== null && typeof tree === 'object') {
      const out: Record<string, Value> = {};
      for (const [k, x] of Object.entries(tree)) out[k] = evalTree(x, scope, taint, `${field}.${k}`);
      return out;
    }
    return tree;
  }

  // Locals are evaluated even when nothing reads them, so a mistake in one is found at once.
  for (const name of localNames) {
    try {
      base.local!(name, 0, {});
    } catch (e) {
      if (e instanceof MissingValue) continue;
      if (!(e instanceof Reported)) {
        if (e instanceof EvalProblem) {
          const src = t.locals.get(name);
          diags.error(e.message, `locals.${name}`, src instanceof SourceExpr ? src.locate(e.at) : undefined);
        } else throw e;
      }
    }
  }

  // Instance keys first: references to web[2] are checked against them.
  const noResources = (what: string) =>
    `${what} must be known before apply, so it cannot refer to a resource (only to variables, locals and functions)`;
  const instances = new Map<string, { key?: number | string; each?: Value }[]>();
  for (const r of t.resources.values()) {
    const shape = shapes.get(r.name)!;
    const field = `resources.${r.name}`;
    if (!r.count && !r.forEach) {
      instances.set(r.name, [{}]);
      continue;
    }
    const src = (r.count ?? r.forEach)!;
    const what = r.count ? 'count' : 'forEach';
    const taint: Taint = {};
    try {
      const v = evalTree(src, { ...base, noResources: noResources(what) }, taint, `${field}.${what}`);
      if (isSymbolic(v)) throw new EvalProblem(noResources(what), 0);
      if (r.count) {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
          throw new EvalProblem('count must be a whole number, 0 or more', 0);
        const list = Array.from({ length: v }, (_, i) => ({ key: i }));
        shape.keys = list.map((x) => x.key);
        instances.set(r.name, list);
      } else {
        let entries: [string, Value][];
        if (Array.isArray(v)) {
          if (!v.every((x) => typeof x === 'string'))
            throw new EvalProblem(
              'forEach must be a map, or a list of strings (each.key = each.value = the string)',
              0,
            );
          entries = [...new Set(v as string[])].map((s) => [s, s]);
        } else if (v !== null && typeof v === 'object') entries = Object.entries(v as Record<string, Value>);
        else throw new EvalProblem('forEach must be a map, or a list of strings', 0);
        shape.keys = entries.map(([k]) => k);
        instances.set(
          r.name,
          entries.map(([key, each]) => ({ key, each })),
        );
        if (taint.sensitive)
          diags.error(
            `forEach cannot use the sensitive value ${taint.sensitive}: instance keys appear in addresses and plans`,
            `${field}.forEach`,
            src.locate(0),
          );
      }
    } catch (e) {
      if (e instanceof MissingValue) {
        shape.keys = [];
        config.invalid!.add(r.name);
      } else if (e instanceof EvalProblem) diags.error(e.message, `${field}.${what}`, src.locate(e.at));
      else if (!(e instanceof Reported)) throw e;
      if (!shape.keys) {
        shape.keys = [];
        config.invalid!.add(r.name);
      }
    }
  }

  for (const r of t.resources.values()) {
    for (const inst of instances.get(r.name) ?? []) {
      const name = inst.key === undefined ? r.name : instanceName(r.name, inst.key);
      const field = `resources.${name}.properties`;
      const scope: Scope = {
        ...base,
        ...(typeof inst.key === 'number' ? { count: inst.key } : {}),
        ...(typeof inst.key === 'string' ? { each: { key: inst.key, value: inst.each ?? null } } : {}),
      };
      const values: Record<string, Value> = {};
      const sensitive: string[] = [];
      let ok = true;
      for (const [k, tree] of Object.entries(r.properties)) {
        const taint: Taint = {};
        try {
          values[k] = evalTree(tree, scope, taint, `${field}.${k}`);
          if (taint.sensitive) sensitive.push(k);
        } catch (e) {
          if (!(e instanceof Reported) && !(e instanceof MissingValue)) throw e;
          ok = false;
        }
      }
      if (!ok) {
        config.invalid!.add(name);
        continue;
      }
      const defaultName = inst.key === undefined ? r.name : `${r.name}-${inst.key}`;
      const { properties, problems } = normalizeValues(r.type, defaultName, values, t.dir);
      // A value that came from a sensitive variable is not described by what it is, only where.
      for (const p of problems)
        diags.error(
          sensitive.includes(String(p.path[0])) ? 'the value (sensitive) is not valid here' : p.message,
          `${field}.${formatPath(p.path)}`,
          r.locate(['properties', ...p.path]),
        );
      const deps = r.dependsOn.flatMap((d) => {
        const keys = shapes.get(d)?.keys;
        return keys ? keys.map((k) => instanceName(d, k)) : [d];
      });
      const rc: ResourceConfig = {
        name,
        type: r.type,
        properties,
        dependsOn: deps,
        locate: r.locate,
        lifecycle: r.lifecycle,
        timeouts: r.timeouts,
        ...(sensitive.length ? { sensitive: sensitive.sort() } : {}),
      };
      config.resources.set(name, rc);
    }
  }

  for (const o of t.outputs.values()) {
    const taint: Taint = {};
    try {
      const value = evalTree(o.value, base, taint, `outputs.${o.name}`);
      const out: OutputConfig = {
        name: o.name,
        value,
        sensitive: o.sensitive,
        description: o.description,
        locate: o.locate,
        ...(taint.sensitive ? { sensitiveFrom: taint.sensitive } : {}),
      };
      config.outputs.set(o.name, out);
    } catch (e) {
      if (!(e instanceof Reported) && !(e instanceof MissingValue)) throw e;
    }
  }
  return { config, diagnostics: diags };
}
