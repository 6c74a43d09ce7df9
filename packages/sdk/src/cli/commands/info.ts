import { formatDiagnostic } from '../../diagnostics/index.js';
import { parseCommandArgs, UsageError } from '../args.js';
import { out, say } from '../io.js';
import { redact, renderState, styleFor } from '../render.js';
import { backendFor, loadChecked, STATE_FLAGS } from '../session.js';

/** `stratus validate [STACK]`: checks the stack; touches no host. */
export async function cmdValidate(argv: string[]): Promise<number> {
  const { positionals } = parseCommandArgs(argv, {});
  const { config, diagnostics } = await loadChecked(positionals[0]);
  for (const d of diagnostics.items) say(formatDiagnostic(d));
  out.write(`Success! ${config.file} is valid (${config.resources.size} resources).\n`);
  return 0;
}

/** `stratus show [--json] [STACK]`: the resources in state, sensitive values redacted. */
export async function cmdShow(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' }, ...STATE_FLAGS });
  const { config } = await loadChecked(positionals[0]);
  const state = await backendFor(config, values).read();
  if (values.json) {
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

/** `stratus output [NAME] [--json]`: output values; a sensitive one is shown only when asked for by name. */
export async function cmdOutput(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    json: { type: 'boolean' },
    ...STATE_FLAGS,
    stack: { type: 'string' },
  });
  const { config } = await loadChecked(values.stack as string | undefined);
  const state = await backendFor(config, values).read();
  const outputs = state?.outputs ?? {};
  const name = positionals[0];
  if (name !== undefined) {
    const o = outputs[name];
    if (!o) {
      say(
        `error: no output named ${JSON.stringify(name)}; outputs: ${Object.keys(outputs).join(', ') || 'none'}`,
      );
      return 1;
    }
    out.write(values.json || typeof o.value !== 'string' ? `${JSON.stringify(o.value)}\n` : `${o.value}\n`);
    return 0;
  }
  if (values.json) {
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
export async function cmdGraph(argv: string[]): Promise<number> {
  const { positionals } = parseCommandArgs(argv, {});
  if (positionals.length > 1) throw new UsageError('usage: stratus graph [STACK]');
  const { config, graph } = await loadChecked(positionals[0]);
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
