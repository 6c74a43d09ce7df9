import type { ResourceType } from '@stratus/model';
import type { Diagnostic } from '../diagnostics/index.js';
import type { ApplyEvent } from '../engine/apply.js';
import type { Plan, ResourceChange } from '../engine/plan.js';
import { summarize } from '../engine/plan.js';
import type { StateOutput } from '../state/types.js';
import { eventLine } from './progress.js';

/** Version of the machine-readable UI's message format (Terraform's `ui` field). */
export const JSON_UI_VERSION = '1.2';

type Level = 'info' | 'warn' | 'error';

/** A resource as the JSON UI names it (Terraform's `resource` object of `planned_change` and hooks). */
function resourceOf(name: string, type: ResourceType | undefined) {
  return {
    addr: name,
    module: '',
    resource: name,
    implied_provider: 'stratus',
    resource_type: type ?? '',
    resource_name: name,
    resource_key: null,
  };
}

const PLAN_ACTION: Record<ResourceChange['action'], string> = {
  create: 'create',
  update: 'update',
  replace: 'replace',
  delete: 'delete',
  'no-op': 'noop',
};

function hookAction(e: ApplyEvent): 'create' | 'update' | 'delete' {
  if (e.op === 'destroy') return 'delete';
  return e.kind !== 'skipped' && e.action === 'update' ? 'update' : 'create';
}

/**
 * Stratus's machine-readable UI (`plan -json`, `apply -json`, `destroy -json`): one JSON object per
 * line on stdout, in the message types and fields of Terraform's `-json` UI: `version`,
 * `planned_change`, `change_summary`, `apply_start`, `apply_progress`, `apply_complete`,
 * `apply_errored`, `outputs`, `diagnostic` and `log`. Every line has `@level`, `@message`, `@module`
 * (`stratus.ui`), `@timestamp` and `type`. Values of attributes never appear; sensitive outputs carry
 * no value.
 */
export class JsonUi {
  private readonly types = new Map<string, ResourceType>();
  private readonly inFlight = new Map<
    string,
    { e: ApplyEvent; since: number; reported: number; detail?: string }
  >();
  private timer?: NodeJS.Timeout;

  /** `write` gets each line; `now` is the clock (milliseconds) for elapsed times. */
  constructor(
    private readonly write: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes one message. */
  emit(type: string, level: Level, message: string, fields: Record<string, unknown> = {}): void {
    this.write(
      `${JSON.stringify({
        '@level': level,
        '@message': message,
        '@module': 'stratus.ui',
        '@timestamp': new Date().toISOString(),
        ...fields,
        type,
      })}\n`,
    );
  }

  /** The first line: which Stratus and which UI format. */
  version(stratus: string): void {
    this.emit('version', 'info', `Stratus ${stratus}`, { stratus, ui: JSON_UI_VERSION });
  }

  /** A general message (what the human UI prints on stderr). */
  log(message: string): void {
    this.emit('log', 'info', message);
  }

  /** A diagnostic, with its source range when it has one. */
  diagnostic(d: Diagnostic): void {
    const summary = d.field ? `${d.field}: ${d.message}` : d.message;
    const range = d.range && {
      filename: d.range.file,
      start: { line: d.range.line, column: d.range.column },
      end: { line: d.range.line, column: d.range.column },
    };
    this.emit(
      'diagnostic',
      d.severity === 'error' ? 'error' : 'warn',
      `${d.severity === 'error' ? 'Error' : 'Warning'}: ${summary}`,
      {
        diagnostic: {
          severity: d.severity,
          summary,
          detail: '',
          ...(d.field ? { address: d.field } : {}),
          ...(range ? { range } : {}),
        },
      },
    );
  }

  /** One `planned_change` per change, then the `change_summary` of the plan. */
  plan(plan: Plan, operation: 'plan' | 'apply' | 'destroy'): void {
    for (const c of plan.changes) {
      this.types.set(c.name, c.type);
      if (c.action === 'no-op') continue;
      const verb = { create: 'create', update: 'update', replace: 'replace', delete: 'delete' }[c.action];
      this.emit('planned_change', 'info', `${c.name}: Plan to ${verb}`, {
        change: {
          resource: resourceOf(c.name, c.type),
          action: PLAN_ACTION[c.action],
          ...(c.reason ? { reason: c.reason } : {}),
        },
      });
    }
    if (operation === 'plan') this.summary(plan, 'plan');
  }

  /** `change_summary` of a plan (`operation: plan`) or of what an apply did. */
  summary(
    plan: Plan | { add: number; change: number; destroy: number },
    operation: 'plan' | 'apply' | 'destroy',
  ): void {
    const s = 'changes' in plan ? summarize(plan) : plan;
    const message =
      operation === 'plan'
        ? `Plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy.`
        : `${operation === 'destroy' ? 'Destroy' : 'Apply'} complete! Resources: ${s.add} added, ${s.change} changed, ${s.destroy} destroyed.`;
    this.emit('change_summary', 'info', message, {
      changes: { add: s.add, change: s.change, import: 0, remove: s.destroy, operation },
    });
  }

  /**
   * An apply event as `apply_start`, `apply_complete` or `apply_errored`; `skipped` becomes a `log`;
   * `progress` is kept for the next `apply_progress` (see {@link JsonUi.tick}).
   */
  event(e: ApplyEvent): void {
    const key = `${e.op}:${e.name}`;
    const hook = { resource: resourceOf(e.name, this.types.get(e.name)), action: hookAction(e) };
    switch (e.kind) {
      case 'start':
        this.inFlight.set(key, { e, since: this.now(), reported: 0 });
        this.startTimer();
        this.emit('apply_start', 'info', eventLine(e), { hook });
        return;
      case 'done':
        this.inFlight.delete(key);
        this.emit('apply_complete', 'info', eventLine(e), {
          hook: {
            ...hook,
            ...(e.id && e.op === 'apply' ? { id_key: 'id', id_value: e.id } : {}),
            elapsed_seconds: Math.round(e.elapsedMs / 1000),
          },
        });
        return;
      case 'failed':
        this.inFlight.delete(key);
        this.emit('apply_errored', 'error', eventLine(e), {
          hook: { ...hook, elapsed_seconds: Math.round(e.elapsedMs / 1000) },
        });
        return;
      case 'skipped':
        this.emit('log', 'warn', eventLine(e));
        return;
      case 'progress': {
        const f = this.inFlight.get(key);
        if (f) f.detail = e.detail;
        return;
      }
    }
  }

  /** Runs {@link JsonUi.tick} every second while operations are in flight. */
  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /**
   * Emits `apply_progress` for each operation in flight that has passed another 10 seconds since it
   * started (Terraform's "Still creating... [10s elapsed]"), with what its provider last said of its
   * progress in parentheses.
   */
  tick(): void {
    for (const f of this.inFlight.values()) {
      const tens = Math.floor((this.now() - f.since) / 10_000);
      if (tens <= f.reported) continue;
      f.reported = tens;
      const action = hookAction(f.e);
      const doing = action === 'delete' ? 'destroying' : action === 'update' ? 'modifying' : 'creating';
      const detail = f.detail ? ` (${f.detail})` : '';
      this.emit('apply_progress', 'info', `${f.e.name}: Still ${doing}... [${tens * 10}s elapsed]${detail}`, {
        hook: {
          resource: resourceOf(f.e.name, this.types.get(f.e.name)),
          action,
          elapsed_seconds: tens * 10,
        },
      });
    }
  }

  /** The stack's outputs; a sensitive output has no value. */
  outputs(outputs: Record<string, StateOutput>): void {
    const shown = Object.fromEntries(
      Object.entries(outputs).map(([k, o]) => [
        k,
        o.sensitive ? { sensitive: true } : { sensitive: false, value: o.value, type: jsonType(o.value) },
      ]),
    );
    this.emit('outputs', 'info', `Outputs: ${Object.keys(outputs).length}`, { outputs: shown });
  }

  /** Stops the progress timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function jsonType(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'object';
  return typeof v;
}
