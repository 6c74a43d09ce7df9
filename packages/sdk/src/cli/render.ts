import { attributes, type ResourceType, schemas } from '@stratus/model';
import type { Plan, ResourceChange } from '../engine/plan.js';
import { summarize } from '../engine/plan.js';
import { hasUnknown, UNKNOWN } from '../engine/values.js';
import type { StateDoc } from '../state/types.js';

/** Terminal styling that honours NO_COLOR and non-TTY output. */
export interface Style {
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

/** A style for `stream`: colours only on a TTY and when NO_COLOR is unset. */
export function styleFor(stream: NodeJS.WriteStream): Style {
  const on = stream.isTTY === true && !process.env.NO_COLOR;
  const wrap = (code: number) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { green: wrap(32), yellow: wrap(33), red: wrap(31), bold: wrap(1), dim: wrap(2) };
}

const REDACTED = '(sensitive value)';

/** Attributes shown as `(sensitive value)`: the type's sensitive ones, and `extra` (derived from secrets). */
function sensitiveNames(type: ResourceType, extra: readonly string[] = []): Set<string> {
  return new Set([
    ...attributes(schemas[type])
      .filter((a) => a.sensitive)
      .map((a) => a.name),
    ...extra,
  ]);
}

/** Attribute values with sensitive ones replaced by a marker, for display and JSON output. */
export function redact(
  type: ResourceType,
  attrs: Record<string, unknown> | null,
  /** Attributes whose values came from a sensitive attribute (ResourceChange/StateResource `sensitive`). */
  extra?: readonly string[],
): Record<string, unknown> | null {
  if (!attrs) return attrs;
  const s = sensitiveNames(type, extra);
  return Object.fromEntries(
    Object.entries(attrs).map(([k, v]) => [k, s.has(k) && v !== undefined ? REDACTED : v]),
  );
}

function show(v: unknown): string {
  if (v === UNKNOWN) return '(known after apply)';
  if (v === undefined) return 'null';
  if (typeof v === 'string' && v.includes('\n'))
    return `<<EOT\n${v.replace(/^/gm, '          ')}\n          EOT`;
  return JSON.stringify(v, (_k, x) => (x === UNKNOWN ? '(known after apply)' : x));
}

const SYMBOL: Record<string, string> = {
  create: '+',
  update: '~',
  replace: '-/+',
  delete: '-',
  'no-op': ' ',
};

function renderChange(c: ResourceChange, st: Style): string[] {
  const color = c.action === 'create' ? st.green : c.action === 'delete' ? st.red : st.yellow;
  const what = {
    create: 'will be created',
    update: 'will be updated in place',
    replace: 'must be replaced',
    delete: 'will be destroyed',
    'no-op': 'is unchanged',
  }[c.action];
  const why = {
    tainted: ' (tainted: its last create failed or was interrupted)',
    'deleted-outside': ' (it was deleted outside Stratus)',
    drift: ` (drift: ${c.drift})`,
    'replace-requested': ' (as requested with -replace)',
    deposed: ' (the old object of an interrupted create-before-destroy replace)',
    resume: ` (again, as ${c.priorId}: its last create did not finish here; the agent's object is kept)`,
    none: '',
  }[c.reason ?? 'none'];
  const order = c.action === 'replace' ? (c.createBeforeDestroy ? ', create before destroy' : '') : '';
  const lines = [
    st.bold(`  # ${c.type} ${c.name} ${what}${why}${order}`),
    color(`  ${SYMBOL[c.action]} ${c.type} "${c.name}" {`),
  ];
  const redacted = sensitiveNames(c.type, c.sensitive);
  const val = (name: string, v: unknown) =>
    redacted.has(name) && v !== undefined && v !== UNKNOWN ? REDACTED : show(v);
  if (c.action === 'create') {
    for (const [k, v] of Object.entries(c.after ?? {}))
      if (v !== undefined) lines.push(st.green(`      + ${k} = ${val(k, v)}`));
  } else if (c.action === 'delete') {
    lines.push(st.red(`      - id = ${show(c.priorId)}`));
  } else {
    if (c.priorId) lines.push(`        id = ${show(c.priorId)}`);
    for (const a of c.changes) {
      const forces = a.forcesReplace && c.action === 'replace' ? st.red(' # forces replacement') : '';
      lines.push(
        st.yellow(`      ~ ${a.name} = ${val(a.name, a.before)} -> ${val(a.name, a.after)}`) + forces,
      );
    }
  }
  lines.push(color('    }'));
  return lines;
}

/** Renders a plan for people, like Terraform's plan output. */
export function renderPlan(plan: Plan, st: Style): string {
  const changed = plan.changes.filter((c) => c.action !== 'no-op');
  if (changed.length === 0) return 'No changes. Your infrastructure matches the configuration.\n';
  const out = ['Stratus will perform the following actions:', ''];
  for (const c of changed) out.push(...renderChange(c, st), '');
  const s = summarize(plan);
  out.push(st.bold(`Plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy.`));
  return `${out.join('\n')}\n`;
}

/** Terraform's `actions` list for a planned action. */
function tfActions(action: ResourceChange['action']): string[] {
  return action === 'replace' ? ['delete', 'create'] : [action];
}

function splitUnknown(v: Record<string, unknown> | null): {
  known: Record<string, unknown> | null;
  unknown: Record<string, boolean>;
} {
  if (!v) return { known: null, unknown: {} };
  const known: Record<string, unknown> = {};
  const unknown: Record<string, boolean> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    if (hasUnknown(x)) unknown[k] = true;
    else known[k] = x;
  }
  return { known, unknown };
}

/** The plan as JSON in Terraform's shape (`format_version`, `resource_changes[].change`), redacted. */
export function planJson(plan: Plan): unknown {
  return {
    format_version: '1.2',
    stratus_plan_version: plan.formatVersion,
    stack: plan.stack,
    state: { lineage: plan.lineage, serial: plan.serial },
    resource_changes: plan.changes.map((c) => {
      const after = splitUnknown(redact(c.type, c.after, c.sensitive));
      const sens = Object.fromEntries([...sensitiveNames(c.type, c.sensitive)].map((n) => [n, true]));
      return {
        address: c.name,
        type: c.type,
        name: c.name,
        ...(c.reason ? { action_reason: c.reason } : {}),
        change: {
          actions: tfActions(c.action),
          before: redact(c.type, c.before, c.sensitive),
          after: after.known,
          after_unknown: after.unknown,
          before_sensitive: sens,
          after_sensitive: sens,
          replace_paths: c.changes.filter((a) => a.forcesReplace).map((a) => [a.name]),
        },
      };
    }),
    output_changes: Object.fromEntries(
      Object.entries(plan.outputs).map(([k, o]) => [
        k,
        {
          after: o.sensitive ? null : hasUnknown(o.value) ? null : o.value,
          after_unknown: hasUnknown(o.value),
          after_sensitive: o.sensitive,
        },
      ]),
    ),
  };
}

/** Renders state for `stratus show`, redacted. */
export function renderState(state: StateDoc | null, st: Style): string {
  if (!state || state.resources.length === 0) return 'The state is empty.\n';
  const out: string[] = [];
  for (const r of state.resources) {
    out.push(
      st.bold(`# ${r.type} ${r.name}${r.status !== 'ready' ? ` (${r.status})` : ''}`),
      `  id = ${JSON.stringify(r.id)}`,
    );
    for (const [k, v] of Object.entries(redact(r.type, r.attributes, r.sensitive) ?? {}))
      out.push(`  ${k} = ${show(v)}`);
    out.push('');
  }
  const outs = Object.entries(state.outputs);
  if (outs.length) {
    out.push(st.bold('Outputs:'));
    for (const [k, o] of outs) out.push(`  ${k} = ${o.sensitive ? REDACTED : show(o.value)}`);
  }
  return `${out.join('\n')}\n`;
}
