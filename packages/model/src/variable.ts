/**
 * Input variables of a stack, whatever the front end declares them (a stack file's `variables:`, later
 * a Heat template's `parameters:`): a name, a type constraint, an optional default, a description, a
 * sensitive flag and validation rules. Types and conversions follow Terraform's input variables
 * (https://developer.hashicorp.com/terraform/language/values/variables): `string`, `number`, `bool`,
 * `list(T)`, `map(T)`, `any`; a value given as text (`-var`, an environment variable) is converted to the
 * declared type. Pure: no I/O.
 */

/** A variable's type constraint. */
export type VariableType =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'bool' }
  | { kind: 'any' }
  | { kind: 'list'; element: VariableType }
  | { kind: 'map'; element: VariableType };

/** One validation rule: when `condition` (an expression of the front end's language) is false, `errorMessage`. */
export interface VariableValidation<Condition = unknown> {
  condition: Condition;
  errorMessage: string;
}

/** A declared input variable. `Condition` is the front end's parsed expression type. */
export interface VariableDecl<Condition = unknown> {
  name: string;
  type: VariableType;
  /** The value when none is given; absent: the variable is required. */
  default?: unknown;
  description?: string;
  /** Never shown: not in plans, outputs, errors or logs; values derived from it are sensitive too. */
  sensitive: boolean;
  validations: VariableValidation<Condition>[];
}

/** Variable names: as resource names, without `-` (so `var.a-b` cannot be read as a subtraction). */
export const VARIABLE_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a type constraint as written (`string`, `list(number)`, `map(string)`, `any`); returns a
 * message for anything else.
 */
export function parseVariableType(text: string): VariableType | { error: string } {
  const t = text.replace(/\s+/g, '');
  if (t === 'string' || t === 'number' || t === 'bool' || t === 'any') return { kind: t };
  const m = /^(list|map)\((.*)\)$/.exec(t);
  if (m) {
    const inner = parseVariableType(m[2]!);
    if ('error' in inner) return inner;
    return { kind: m[1] as 'list' | 'map', element: inner };
  }
  return {
    error: `unknown type ${JSON.stringify(text)}; expected string, number, bool, list(T), map(T) or any`,
  };
}

/** Renders a type constraint as it is written. */
export function formatVariableType(t: VariableType): string {
  return t.kind === 'list' || t.kind === 'map' ? `${t.kind}(${formatVariableType(t.element)})` : t.kind;
}

/** Terraform's number syntax in text: a decimal, optionally signed, with optional fraction and exponent. */
const NUMBER_TEXT = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/;

/**
 * Converts `value` to type `t` as Terraform does for input variables: numbers and bools from their
 * text forms, a number or bool to a string; lists and maps element by element. Returns the value, or a
 * message that never includes the value itself (it may be sensitive): only what kind it was.
 */
export function convertVariable(value: unknown, t: VariableType): { value: unknown } | { error: string } {
  const kindOf = (v: unknown) =>
    v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : `a ${typeof v}`;
  switch (t.kind) {
    case 'any':
      return { value };
    case 'string':
      if (typeof value === 'string') return { value };
      if (typeof value === 'number' || typeof value === 'boolean') return { value: String(value) };
      return { error: `a string is required, got ${kindOf(value)}` };
    case 'number':
      if (typeof value === 'number' && Number.isFinite(value)) return { value };
      if (typeof value === 'string' && NUMBER_TEXT.test(value.trim())) return { value: Number(value) };
      return { error: `a number is required, got ${kindOf(value)}` };
    case 'bool':
      if (typeof value === 'boolean') return { value };
      if (value === 'true' || value === 'false') return { value: value === 'true' };
      return { error: `a bool (true or false) is required, got ${kindOf(value)}` };
    case 'list': {
      if (!Array.isArray(value)) return { error: `a list is required, got ${kindOf(value)}` };
      const out: unknown[] = [];
      for (const [i, x] of value.entries()) {
        const c = convertVariable(x, t.element);
        if ('error' in c) return { error: `element ${i}: ${c.error}` };
        out.push(c.value);
      }
      return { value: out };
    }
    case 'map': {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        return { error: `a map is required, got ${kindOf(value)}` };
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(value)) {
        const c = convertVariable(x, t.element);
        if ('error' in c) return { error: `key ${JSON.stringify(k)}: ${c.error}` };
        out[k] = c.value;
      }
      return { value: out };
    }
  }
}

/**
 * Whether a value given as text (`-var NAME=VALUE`, `STRATUS_VAR_NAME`) must be parsed before
 * conversion: Terraform reads the text of a list, map or `any` variable as an expression (here: JSON,
 * which is also YAML flow syntax), and the text of a string, number or bool variable as it is.
 */
export function textNeedsParsing(t: VariableType): boolean {
  return t.kind === 'list' || t.kind === 'map';
}
