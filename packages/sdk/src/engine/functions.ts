/**
 * The functions and operators of stack expressions (`${format("web-%d", count.index)}`), with
 * Terraform's semantics (https://developer.hashicorp.com/terraform/language/functions): format, join,
 * split, cidrhost, cidrsubnet, base64encode, jsonencode, lookup, length, element, range, contains, and
 * the operators. Pure; `file` reads the disk and is the loader's. Known values only: a call whose
 * argument is unknown (a value known after apply) is unknown itself, which the callers decide before
 * calling (see deferred.ts), so at apply the same call runs on the values then known.
 */
import { intToIp, ipToInt, isIpv4 } from '@stratus/model';
import { FunctionError, kindOf } from './function-error.js';
import { HEAT_FUNCTIONS } from './heat-functions.js';

export { FunctionError };

type Fn = (args: unknown[]) => unknown;

function arity(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max)
    throw new FunctionError(
      `${name}() takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, got ${args.length}`,
    );
}

function str(name: string, v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new FunctionError(`${name}(): ${what} must be a string, got ${kindOf(v)}`);
}

function num(name: string, v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  throw new FunctionError(`${name}(): ${what} must be a number, got ${kindOf(v)}`);
}

function int(name: string, v: unknown, what: string): number {
  const n = num(name, v, what);
  if (!Number.isInteger(n)) throw new FunctionError(`${name}(): ${what} must be a whole number`);
  return n;
}

function list(name: string, v: unknown, what: string): unknown[] {
  if (Array.isArray(v)) return v;
  throw new FunctionError(`${name}(): ${what} must be a list, got ${kindOf(v)}`);
}

function map(name: string, v: unknown, what: string): Record<string, unknown> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  throw new FunctionError(`${name}(): ${what} must be a map, got ${kindOf(v)}`);
}

/** Renders a value in a template or with format's %v: strings as they are, anything else as JSON. */
export function toText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Go's fmt verbs as Terraform's format() takes them: %s %d %f %v %q %t %%, with flags, width, precision. */
function format(args: unknown[]): string {
  if (args.length < 1) throw new FunctionError('format() takes a format string and values');
  const spec = str('format', args[0], 'the format');
  let next = 1;
  const out = spec.replace(/%([-+ 0#]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g, (_m, flags: string, w, p, verb) => {
    if (verb === '%') return '%';
    if (next >= args.length)
      throw new FunctionError(`format(): not enough arguments for the format (verb %${verb})`);
    const v = args[next++];
    let s: string;
    switch (verb) {
      case 's':
        s = str('format', v, `argument ${next - 1}`);
        break;
      case 'v':
        s = toText(v);
        break;
      case 'q':
        s = JSON.stringify(str('format', v, `argument ${next - 1}`));
        break;
      case 't':
        if (typeof v !== 'boolean') throw new FunctionError(`format(): %t needs a bool, got ${kindOf(v)}`);
        s = String(v);
        break;
      case 'd': {
        const n = int('format', v, `argument ${next - 1}`);
        s = flags.includes('+') && n >= 0 ? `+${n}` : String(n);
        break;
      }
      case 'f': {
        const n = num('format', v, `argument ${next - 1}`);
        s = n.toFixed(p === undefined ? 6 : Number(p));
        if (flags.includes('+') && n >= 0) s = `+${s}`;
        break;
      }
      default:
        throw new FunctionError(`format(): unsupported verb %${verb}`);
    }
    if (p !== undefined && (verb === 's' || verb === 'v')) s = [...s].slice(0, Number(p)).join('');
    const width = w === undefined ? 0 : Number(w);
    if (s.length < width) {
      if (flags.includes('-')) s = s.padEnd(width);
      else if (flags.includes('0') && (verb === 'd' || verb === 'f')) {
        const sign = /^[-+]/.test(s) ? s[0]! : '';
        s = sign + s.slice(sign.length).padStart(width - sign.length, '0');
      } else s = s.padStart(width);
    }
    return s;
  });
  if (next < args.length)
    throw new FunctionError(
      `format(): ${args.length - next} argument${args.length - next === 1 ? '' : 's'} more than the format uses`,
    );
  return out;
}

/** An IPv4 prefix `a.b.c.d/n` (any n from 0 to 32) as its network address and length. */
function prefix(name: string, v: unknown): { base: number; bits: number } {
  const s = str(name, v, 'the prefix');
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32)
    throw new FunctionError(`${name}(): the prefix must be an IPv4 CIDR such as 10.0.0.0/16`);
  const bits = Number(m[2]);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (ipToInt(m[1]!) & mask) >>> 0, bits };
}

/** Terraform's cidrhost(prefix, hostnum): the address of host number `hostnum` (negative: from the end). */
function cidrhost(args: unknown[]): string {
  arity('cidrhost', args, 2);
  const { base, bits } = prefix('cidrhost', args[0]);
  const size = 2 ** (32 - bits);
  const n = int('cidrhost', args[1], 'the host number');
  const i = n < 0 ? size + n : n;
  if (i < 0 || i >= size)
    throw new FunctionError(`cidrhost(): host number ${n} does not fit in a /${bits} (${size} addresses)`);
  return intToIp(base + i);
}

/** Terraform's cidrsubnet(prefix, newbits, netnum): subnet `netnum` of the prefix, `newbits` longer. */
function cidrsubnet(args: unknown[]): string {
  arity('cidrsubnet', args, 3);
  const { base, bits } = prefix('cidrsubnet', args[0]);
  const newbits = int('cidrsubnet', args[1], 'newbits');
  const netnum = int('cidrsubnet', args[2], 'netnum');
  if (newbits < 0 || bits + newbits > 32)
    throw new FunctionError(`cidrsubnet(): a /${bits} cannot be extended by ${newbits} bits`);
  if (netnum < 0 || netnum >= 2 ** newbits)
    throw new FunctionError(`cidrsubnet(): netnum ${netnum} does not fit in ${newbits} bits`);
  const len = bits + newbits;
  return `${intToIp(base + netnum * 2 ** (32 - len))}/${len}`;
}

function range(args: unknown[]): number[] {
  arity('range', args, 1, 3);
  const n = args.map((a, i) => num('range', a, `argument ${i + 1}`));
  const [start, limit, step] =
    n.length === 1 ? [0, n[0]!, 1] : [n[0]!, n[1]!, n[2] ?? (n[1]! >= n[0]! ? 1 : -1)];
  if (step === 0) throw new FunctionError('range(): the step must not be zero');
  if ((limit - start) / step > 1024)
    throw new FunctionError('range(): more than 1024 elements (Terraform has the same limit)');
  const out: number[] = [];
  for (let x = start; step > 0 ? x < limit : x > limit; x += step) out.push(x);
  return out;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function compare(op: string, a: unknown, b: unknown): boolean {
  const x = num(op, a, 'the left operand');
  const y = num(op, b, 'the right operand');
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

function bool(op: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new FunctionError(`${op}: a bool is required, got ${kindOf(v)}`);
}

function arith(op: string, a: unknown, b: unknown): number {
  const x = num(op, a, 'the left operand');
  const y = num(op, b, 'the right operand');
  switch (op) {
    case '+':
      return x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      if (y === 0) throw new FunctionError('division by zero');
      return x / y;
    default:
      if (y === 0) throw new FunctionError('modulo by zero');
      return x % y;
  }
}

/** The value at `key` of a list or map (`x[0]`, `x["a"]`, `x.a`). */
function index(args: unknown[]): unknown {
  const [obj, key] = args;
  if (Array.isArray(obj)) {
    const i = int('index', key, 'a list index');
    if (i < 0 || i >= obj.length)
      throw new FunctionError(
        `index ${i} is out of range: the list has ${obj.length} element${obj.length === 1 ? '' : 's'}`,
      );
    return obj[i];
  }
  if (obj !== null && typeof obj === 'object') {
    const k = str('index', key, 'a map key');
    if (!Object.hasOwn(obj, k)) throw new FunctionError(`the map has no key ${JSON.stringify(k)}`);
    return (obj as Record<string, unknown>)[k];
  }
  throw new FunctionError(`cannot index ${kindOf(obj)}`);
}

/** The functions a stack expression may call, by name. */
export const FUNCTIONS: Readonly<Record<string, Fn>> = {
  format,
  join: (a) => {
    arity('join', a, 2);
    const sep = str('join', a[0], 'the separator');
    return list('join', a[1], 'the list')
      .map((x, i) => str('join', x, `element ${i}`))
      .join(sep);
  },
  split: (a) => {
    arity('split', a, 2);
    const sep = str('split', a[0], 'the separator');
    const s = str('split', a[1], 'the string');
    return s === '' ? [''] : s.split(sep);
  },
  cidrhost,
  cidrsubnet,
  base64encode: (a) => {
    arity('base64encode', a, 1);
    return Buffer.from(str('base64encode', a[0], 'the argument'), 'utf8').toString('base64');
  },
  jsonencode: (a) => {
    arity('jsonencode', a, 1);
    return JSON.stringify(a[0]);
  },
  lookup: (a) => {
    arity('lookup', a, 2, 3);
    const m = map('lookup', a[0], 'the first argument');
    const k = str('lookup', a[1], 'the key');
    if (Object.hasOwn(m, k)) return m[k];
    if (a.length === 3) return a[2];
    throw new FunctionError(`lookup(): the map has no key ${JSON.stringify(k)} and no default was given`);
  },
  length: (a) => {
    arity('length', a, 1);
    const v = a[0];
    if (typeof v === 'string') return [...v].length;
    if (Array.isArray(v)) return v.length;
    if (v !== null && typeof v === 'object') return Object.keys(v).length;
    throw new FunctionError(`length(): a string, list or map is required, got ${kindOf(v)}`);
  },
  element: (a) => {
    arity('element', a, 2);
    const l = list('element', a[0], 'the first argument');
    if (l.length === 0) throw new FunctionError('element(): the list is empty');
    const i = int('element', a[1], 'the index');
    if (i < 0) throw new FunctionError('element(): the index must not be negative');
    return l[i % l.length];
  },
  range,
  contains: (a) => {
    arity('contains', a, 2);
    return list('contains', a[0], 'the first argument').some((x) => equal(x, a[1]));
  },
};

/** The operators, by their symbol; `neg` is unary minus, `?:` the conditional, `index` `x[k]`/`x.k`. */
export const OPERATORS: Readonly<Record<string, Fn>> = {
  '==': ([a, b]) => equal(a, b),
  '!=': ([a, b]) => !equal(a, b),
  '<': ([a, b]) => compare('<', a, b),
  '<=': ([a, b]) => compare('<=', a, b),
  '>': ([a, b]) => compare('>', a, b),
  '>=': ([a, b]) => compare('>=', a, b),
  '&&': ([a, b]) => bool('&&', a) && bool('&&', b),
  '||': ([a, b]) => bool('||', a) || bool('||', b),
  '!': ([a]) => !bool('!', a),
  neg: ([a]) => -num('-', a, 'the operand'),
  '+': ([a, b]) => arith('+', a, b),
  '-': ([a, b]) => arith('-', a, b),
  '*': ([a, b]) => arith('*', a, b),
  '/': ([a, b]) => arith('/', a, b),
  '%': ([a, b]) => arith('%', a, b),
  '?:': ([c, a, b]) => (bool('the condition of ?:', c) ? a : b),
  index,
};

/** Whether `name` is a function or operator {@link callFunction} knows. */
export const isKnownFunction = (name: string): boolean =>
  Object.hasOwn(FUNCTIONS, name) || Object.hasOwn(OPERATORS, name) || Object.hasOwn(HEAT_FUNCTIONS, name);

/** Calls a function or operator on known values. Throws FunctionError for bad arguments. */
export function callFunction(name: string, args: unknown[]): unknown {
  const fn = Object.hasOwn(FUNCTIONS, name)
    ? FUNCTIONS[name]
    : Object.hasOwn(OPERATORS, name)
      ? OPERATORS[name]
      : // Heat's functions (`heat:NAME`, see heat-functions.ts), left by the HOT loader for apply.
        Object.hasOwn(HEAT_FUNCTIONS, name)
        ? HEAT_FUNCTIONS[name]
        : undefined;
  if (!fn) throw new FunctionError(`unknown function ${name}()`);
  return fn(args);
}
