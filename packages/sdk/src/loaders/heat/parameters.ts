/**
 * Heat template parameters (https://docs.openstack.org/heat/latest/template_guide/hot_spec.html#parameters-section):
 * their types (string, number, json, comma_delimited_list, boolean), values given as text (`-P`,
 * environment files) or as values (a provider template's properties), and the constraints range,
 * length, allowed_values and allowed_pattern with Heat's rules and messages. Custom constraints
 * (nova.flavor, neutron.network, glance.image...) need the stack's resources and are checked by the
 * loader. Pure: every problem is returned as a message, never thrown.
 */

import type { Value } from '../../engine/expr.js';
import { isSymbolic } from '../../expand/evaluate.js';

/** The parameter types of HOT. */
export const PARAMETER_TYPES = ['string', 'number', 'json', 'comma_delimited_list', 'boolean'] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];

/** One constraint of a parameter, as declared. */
export interface Constraint {
  kind: 'range' | 'length' | 'allowed_values' | 'allowed_pattern' | 'custom_constraint' | 'modulo';
  /** The constraint's own value: {min, max}, a list, a pattern, a constraint name. */
  spec: unknown;
  description?: string;
  /** Offset of the constraint in the template, for messages. */
  offset?: number;
}

/** Heat's truth values for boolean parameters (oslo strutils, as Heat reads them). */
const TRUE = new Set(['t', 'true', 'on', 'y', 'yes', '1']);
const FALSE = new Set(['f', 'false', 'off', 'n', 'no', '0']);

const kindOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `a ${typeof v}`;

/**
 * Converts a value to a parameter's type as Heat does: numbers from numeric text, lists from
 * comma-separated text (items trimmed), json from JSON text, booleans from Heat's truth words.
 * Values known only after apply (a provider template's property from another resource) pass as they are.
 */
export function convertParameter(type: ParameterType, v: Value): { value: Value } | { error: string } {
  if (isSymbolic(v)) return { value: v };
  switch (type) {
    case 'string':
      if (typeof v === 'string') return { value: v };
      if (typeof v === 'number' || typeof v === 'boolean') return { value: String(v) };
      return { error: `must be a string, got ${kindOf(v)}` };
    case 'number': {
      if (typeof v === 'number' && Number.isFinite(v)) return { value: v };
      if (typeof v === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v))
        return { value: Number(v) };
      return { error: `must be a number, got ${typeof v === 'string' ? 'text that is not one' : kindOf(v)}` };
    }
    case 'boolean': {
      if (typeof v === 'boolean') return { value: v };
      const t = String(v).trim().toLowerCase();
      if (typeof v !== 'object' && TRUE.has(t)) return { value: true };
      if (typeof v !== 'object' && FALSE.has(t)) return { value: false };
      return { error: 'must be a boolean (true or false)' };
    }
    case 'comma_delimited_list':
      if (Array.isArray(v)) return { value: v.map((x) => (typeof x === 'string' ? x : String(x))) };
      if (typeof v === 'string') return { value: v === '' ? [] : v.split(',').map((x) => x.trim()) };
      return { error: `must be a comma-delimited list, got ${kindOf(v)}` };
    case 'json':
      if (typeof v === 'string') {
        try {
          const parsed: unknown = JSON.parse(v);
          if (parsed !== null && typeof parsed === 'object') return { value: parsed as Value };
        } catch {
          // reported below
        }
        return { error: 'must be JSON (a map or a list)' };
      }
      if (v !== null && typeof v === 'object') return { value: v };
      return { error: `must be a map or a list (json), got ${kindOf(v)}` };
  }
}

/** Heat's default message for a failed constraint, when the constraint has no description. */
function defaultMessage(c: Constraint, v: unknown): string {
  const s = c.spec as Record<string, unknown>;
  switch (c.kind) {
    case 'range':
      return `the value must be in the range ${s.min ?? '-inf'} to ${s.max ?? 'inf'}`;
    case 'length':
      return `the length must be in the range ${s.min ?? 0} to ${s.max ?? 'inf'}`;
    case 'allowed_values':
      return `the value must be one of ${JSON.stringify(c.spec)}`;
    case 'allowed_pattern':
      return `the value must match the pattern ${JSON.stringify(c.spec)}`;
    case 'modulo':
      return `the value must be ${s.offset ?? 0} modulo ${s.step}`;
    default:
      return `the value fails ${c.kind}${v === undefined ? '' : ''}`;
  }
}

/**
 * Checks a converted value against one constraint (not custom ones: the loader checks those). Returns
 * the problem (the constraint's description when it has one, as Heat reports it), or undefined.
 * A constraint that is itself malformed is reported as such.
 */
export function checkConstraint(c: Constraint, type: ParameterType, v: Value): string | undefined {
  if (isSymbolic(v) || c.kind === 'custom_constraint') return undefined;
  const fail = () => c.description ?? defaultMessage(c, v);
  const s = c.spec;
  const bounds = (what: string): { min?: number; max?: number } | string => {
    if (s === null || typeof s !== 'object' || Array.isArray(s))
      return `${what} must be a map with min and/or max`;
    const m = s as Record<string, unknown>;
    for (const k of Object.keys(m))
      if (k !== 'min' && k !== 'max') return `${what}: unknown key ${k}; expected min, max`;
    if (
      (m.min !== undefined && typeof m.min !== 'number') ||
      (m.max !== undefined && typeof m.max !== 'number')
    )
      return `${what}: min and max must be numbers`;
    if (m.min === undefined && m.max === undefined) return `${what} needs min or max`;
    return m as { min?: number; max?: number };
  };
  switch (c.kind) {
    case 'range': {
      if (type !== 'number') return `the range constraint applies to number parameters, not ${type}`;
      const b = bounds('range');
      if (typeof b === 'string') return b;
      const n = v as number;
      return (b.min !== undefined && n < b.min) || (b.max !== undefined && n > b.max) ? fail() : undefined;
    }
    case 'length': {
      if (type === 'number' || type === 'boolean')
        return `the length constraint applies to string, comma_delimited_list and json parameters, not ${type}`;
      const b = bounds('length');
      if (typeof b === 'string') return b;
      const n =
        typeof v === 'string'
          ? [...v].length
          : Array.isArray(v)
            ? v.length
            : Object.keys(v as Record<string, unknown>).length;
      return (b.min !== undefined && n < b.min) || (b.max !== undefined && n > b.max) ? fail() : undefined;
    }
    case 'modulo': {
      if (type !== 'number') return `the modulo constraint applies to number parameters, not ${type}`;
      const m = s as { step?: unknown; offset?: unknown };
      if (typeof m?.step !== 'number' || m.step === 0) return 'modulo needs a non-zero step';
      const off = typeof m.offset === 'number' ? m.offset : 0;
      return ((((v as number) - off) % m.step) + m.step) % m.step === 0 ? undefined : fail();
    }
    case 'allowed_values': {
      if (!Array.isArray(s)) return 'allowed_values must be a list';
      const items = type === 'comma_delimited_list' && Array.isArray(v) ? v : [v];
      const ok = items.every((x) =>
        s.some((a) => a === x || (type === 'number' && Number(a) === x) || String(a) === String(x)),
      );
      return ok ? undefined : fail();
    }
    case 'allowed_pattern': {
      if (typeof s !== 'string') return 'allowed_pattern must be a string';
      if (type !== 'string')
        return `the allowed_pattern constraint applies to string parameters, not ${type}`;
      let re: RegExp;
      try {
        // Heat matches the pattern at the start and requires it to cover the whole value.
        re = new RegExp(`^(?:${s})$`, 'u');
      } catch (e) {
        return `allowed_pattern is not a valid regular expression: ${(e as Error).message}`;
      }
      return re.test(v as string) ? undefined : fail();
    }
  }
  return undefined;
}

/**
 * The Stratus type a Heat custom constraint checks a value against: the value must name (or be the id
 * of) a resource of that type in the stack, or an existing object of that type on the agent.
 */
export const CUSTOM_CONSTRAINTS: Readonly<Record<string, string>> = {
  'nova.flavor': 'flavor',
  'nova.keypair': 'keypair',
  'nova.server': 'server',
  'glance.image': 'image',
  'neutron.network': 'network',
  'neutron.subnet': 'subnet',
  'neutron.port': 'port',
  'neutron.router': 'router',
  'neutron.security_group': 'security_group',
  'cinder.volume': 'volume',
};
