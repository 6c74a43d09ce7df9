/**
 * Immutable parameters of a Heat template (`immutable: true`): Heat refuses a stack update that changes
 * one (ImmutableParameterModified, "The following parameters are immutable and may not be updated").
 * Stratus has no Heat database holding the old values, so apply keeps in state a keyed digest of every
 * top-level parameter's value (StateDoc.parameters) and the next plan compares against it. As Heat
 * (Parameters.immutable_params_modified), a parameter is checked when the new template marks it
 * immutable and the state knows the value it was applied with; values are compared after type
 * conversion, so `-P n=8` and a default of `8` are the same value.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Diagnostic } from '../diagnostics/index.js';
import type { ParameterDigests } from '../state/types.js';
import type { StackParameter } from './config.js';

/**
 * The digests of `params`' values, keyed by the salt of `prior` (the state's), or a fresh salt when the
 * state has none. Parameters without a value get no digest.
 */
export function parameterDigests(
  params: readonly StackParameter[],
  prior: ParameterDigests | undefined,
): ParameterDigests {
  const salt = prior?.salt ?? randomBytes(16).toString('hex');
  const digests: Record<string, string> = {};
  for (const p of params) if (p.value !== undefined) digests[p.name] = digestOf(salt, p.name, p.value);
  return { salt, digests };
}

/**
 * Errors for the immutable parameters of `params` whose value differs from the one `prior` recorded,
 * each at the place the new value was given and naming the parameter (never a value: it may be hidden).
 */
export function immutableParameterErrors(
  params: readonly StackParameter[],
  now: ParameterDigests,
  prior: ParameterDigests | undefined,
): Diagnostic[] {
  if (!prior) return [];
  const errors: Diagnostic[] = [];
  for (const p of params) {
    const before = prior.digests[p.name];
    const after = now.digests[p.name];
    if (!p.immutable || before === undefined || after === undefined || before === after) continue;
    errors.push({
      severity: 'error',
      message:
        `parameter ${p.name} is immutable and may not be updated: the stack was applied with another value ` +
        `(as Heat, a stack update cannot change it); give the value it was applied with, or destroy the stack and create it again`,
      field: `parameters.${p.name}`,
      range: p.at,
    });
  }
  return errors;
}

/** HMAC-SHA256 (hex) keyed by the salt's bytes of the name and the canonical JSON of the value. */
function digestOf(salt: string, name: string, value: unknown): string {
  return createHmac('sha256', Buffer.from(salt, 'hex'))
    .update(name)
    .update('\0')
    .update(canonicalJson(value))
    .digest('hex');
}

/** JSON with object keys sorted, so equal values (a `json` parameter's map) give equal text. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}
