import {
  attributes,
  deepEqual,
  diffInputs,
  isUnknown,
  parsePath,
  type ResourceSchema,
  type ResourceType,
  UNKNOWN,
  validateInputs,
} from '@stratus/model';
import { AgentApiError } from '../client/errors.js';
import type { ResourceIO } from './io.js';
import type { ProtocolDiagnostic, ResourceProvider, Values } from './types.js';

/** Planned attributes of a resource that will be created: its inputs, every other computed attribute unknown. */
export function plannedCreate(schema: ResourceSchema, proposed: Values): Values {
  const planned: Values = {};
  for (const a of attributes(schema)) {
    const v = a.input ? proposed[a.name] : undefined;
    if (v !== undefined) planned[a.name] = v;
    else if (a.computed) planned[a.name] = UNKNOWN;
  }
  return planned;
}

/** The known input values among planned attributes: what is sent to a host. */
export function knownInputs(schema: ResourceSchema, planned: Values): Values {
  const out: Values = {};
  for (const a of attributes(schema)) {
    const v = planned[a.name];
    if (a.input && v !== undefined && !containsUnknown(v)) out[a.name] = v;
  }
  return out;
}

function containsUnknown(v: unknown): boolean {
  if (isUnknown(v)) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v !== null && typeof v === 'object') return Object.values(v).some(containsUnknown);
  return false;
}

/** Whether `v`, at or below `path`, holds UNKNOWN (so a schema error there is for later). */
function unknownAlong(v: unknown, path: readonly (string | number)[]): boolean {
  let cur = v;
  for (const p of path) {
    if (isUnknown(cur)) return true;
    if (cur === null || typeof cur !== 'object') return false;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return containsUnknown(cur);
}

/** The error diagnostic of a failed host call: the agent's code and field, or the message. */
export function errorDiagnostic(e: unknown): ProtocolDiagnostic {
  if (AgentApiError.isInstance(e))
    return {
      severity: 'error',
      summary: e.message,
      code: e.code,
      ...(e.field ? { path: parsePath(e.field) } : {}),
      ...(e.retryable ? { retryable: true } : {}),
    };
  const err = e as Error;
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError')
    return {
      severity: 'error',
      summary: err.message,
      code: err.name === 'TimeoutError' ? 'timeout' : 'aborted',
    };
  return { severity: 'error', summary: err?.message ?? String(e), code: 'internal' };
}

/**
 * Terraform's consistency rule: every value that was known in the plan is what apply produced. Returns
 * one error per input attribute that differs (computed values that were unknown may be anything).
 */
function inconsistencies(schema: ResourceSchema, planned: Values, got: Values): ProtocolDiagnostic[] {
  const out: ProtocolDiagnostic[] = [];
  for (const a of attributes(schema)) {
    if (!a.input) continue;
    const want = planned[a.name];
    if (want === undefined || containsUnknown(want) || deepEqual(want, got[a.name])) continue;
    out.push({
      severity: 'error',
      summary: `the host produced an inconsistent result: ${a.name} was planned as ${
        a.sensitive ? '(sensitive value)' : JSON.stringify(want)
      } but is ${a.sensitive ? '(sensitive value)' : JSON.stringify(got[a.name])}`,
      path: [a.name],
      code: 'inconsistent_result',
    });
  }
  return out;
}

/**
 * The provider of one resource type: validate, plan and upgrade come from the schema (the model's one
 * diff and the type's own hooks), so every front end plans alike; apply, read and import go through
 * `io`, and whatever it throws comes back as diagnostics with the agent's code and attribute path.
 */
export function resourceProvider(schema: ResourceSchema, io: ResourceIO): ResourceProvider {
  const version = schema.version ?? 1;
  return {
    type: schema.type as ResourceType,
    schema,
    schemaVersion: version,

    validate({ config, schemaChecked }) {
      // The schema's validation fills in defaults, so it works on a copy; the type's checks only read.
      const value = schemaChecked ? config : structuredCloneKeepingUnknown(config);
      const diagnostics: ProtocolDiagnostic[] = [];
      if (!schemaChecked)
        for (const e of validateInputs(schema.type as ResourceType, value))
          if (!unknownAlong(value, e.path))
            diagnostics.push({ severity: 'error', summary: e.message, path: e.path });
      // The type's checks guard their own types, so they run beside the schema's and every problem shows.
      for (const p of schema.check?.(value) ?? [])
        if (!unknownAlong(value, p.path))
          diagnostics.push({ severity: 'error', summary: p.message, path: p.path });
      return { diagnostics };
    },

    plan({ prior, proposed, ignore }) {
      if (!proposed) return { planned: null, requiresReplace: [], changes: [], diagnostics: [] };
      const desired = { ...proposed };
      schema.plan?.(desired, prior);
      if (!prior)
        return { planned: plannedCreate(schema, desired), requiresReplace: [], changes: [], diagnostics: [] };
      const ignored = new Set(ignore ?? []);
      const diff = diffInputs(schema, prior, desired, ignored);
      if (diff.action === 'replace') {
        // Ignored attributes keep what the old object had, also in its replacement.
        for (const a of ignored) desired[a] = prior[a];
        return {
          planned: plannedCreate(schema, desired),
          requiresReplace: diff.changes.filter((c) => c.requiresReplace).map((c) => [c.name]),
          changes: diff.changes,
          diagnostics: [],
        };
      }
      const planned = { ...prior };
      for (const c of diff.changes) planned[c.name] = c.after;
      const diagnostics: ProtocolDiagnostic[] = (
        diff.changes.length ? (schema.checkUpdate?.(prior, planned) ?? []) : []
      ).map((p) => ({ severity: 'error', summary: p.message, path: p.path }));
      return { planned, requiresReplace: [], changes: diff.changes, diagnostics };
    },

    async apply(ctx, { id, prior, planned }) {
      try {
        if (!planned) {
          if (prior) await io.delete(ctx, id, prior);
          return { newState: null, diagnostics: [] };
        }
        const known = knownInputs(schema, planned);
        const inputs = schema.toRequest ? schema.toRequest(known) : known;
        const newState = prior ? await io.update(ctx, id, inputs, prior) : await io.create(ctx, id, inputs);
        return { newState, diagnostics: inconsistencies(schema, planned, newState) };
      } catch (e) {
        ctx.log.debug('apply failed', { type: schema.type, id, code: (e as { code?: string }).code });
        const diagnostic = errorDiagnostic(e);
        // The agent did its work and only the wait it was asked for timed out: the object is kept as
        // made, with the waited-for attribute at its prior value, so the next apply waits again.
        const top = diagnostic.path?.[0];
        if (planned && diagnostic.code === 'wait_timeout' && typeof top === 'string') {
          const now = await io.read(ctx, id, prior ?? planned).catch(() => null);
          if (now) {
            const { [top]: _waited, ...rest } = now;
            const newState = prior && top in prior ? { ...rest, [top]: prior[top] } : rest;
            return { newState, complete: true, diagnostics: [diagnostic] };
          }
        }
        return { newState: planned ? null : prior, diagnostics: [diagnostic] };
      }
    },

    async read(ctx, { id, state }) {
      try {
        const newState = await io.read(ctx, id, state);
        const drift = newState ? schema.drift?.(newState) : undefined;
        return { newState, ...(drift ? { drift } : {}), diagnostics: [] };
      } catch (e) {
        return { newState: state, diagnostics: [errorDiagnostic(e)] };
      }
    },

    async import(ctx, { externalId }) {
      if (!io.import)
        return {
          id: null,
          state: null,
          diagnostics: [
            {
              severity: 'error',
              summary: `${schema.type} resources cannot be imported`,
              code: 'not_importable',
            },
          ],
        };
      try {
        const r = await io.import(ctx, externalId);
        return { id: r.id, state: r.attributes, diagnostics: [] };
      } catch (e) {
        return { id: null, state: null, diagnostics: [errorDiagnostic(e)] };
      }
    },

    upgrade({ state, fromVersion }) {
      if (fromVersion === version) return { state, diagnostics: [] };
      if (fromVersion > version || !schema.upgrade)
        return {
          state,
          diagnostics: [
            {
              severity: 'error',
              summary: `state of this ${schema.type} was written by a newer or unknown schema version ${fromVersion} (this Stratus knows ${version})`,
            },
          ],
        };
      return { state: schema.upgrade(structuredClone(state), fromVersion), diagnostics: [] };
    },
  };
}

/** A deep copy of plain values in which UNKNOWN stays the same marker (structuredClone would copy it). */
function structuredCloneKeepingUnknown<T>(v: T): T {
  if (isUnknown(v) || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(structuredCloneKeepingUnknown) as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = structuredCloneKeepingUnknown(x);
  return out as T;
}
