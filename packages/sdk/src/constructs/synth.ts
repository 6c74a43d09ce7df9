import { basename, dirname, resolve } from 'node:path';
import { formatPath, isResourceType, resourceTypes } from '@stratus/model';
import { Diagnostics, type SourceRange } from '../diagnostics/index.js';
import type { Locator, OutputConfig, StackConfig } from '../engine/config.js';
import { fromRawJson, Ref, Template, type Value } from '../engine/expr.js';
import { normalizeOptions, normalizeProperties } from '../engine/normalize.js';
import type { LoadResult } from '../loaders/stack-yaml.js';
import { hasBrand } from './brand.js';
import type { Resource } from './resource.js';
import type { Stack } from './stack.js';
import type { AttributeRef, Token } from './token.js';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Where the stack's resources and files are: the program, and the directory relative paths resolve against. */
export interface SynthOptions {
  /** The program file, for messages; default: where `new Stack()` was called. */
  file?: string;
  /** Directory relative local paths (an image's `source`) resolve against; default: the file's. */
  dir?: string;
}

/**
 * Turns a stack of constructs into a stack config, as a stack file loader would: properties go through
 * `normalizeProperties` (defaults, name default, validation), tokens become references, and every
 * problem is a diagnostic located at the `new Xxx(...)` (or `stack.output(...)`) that declared it.
 */
export function toStackConfig(stack: Stack, opts: SynthOptions = {}): LoadResult {
  const file = resolve(opts.file ?? stack.location?.file ?? 'program');
  const dir = opts.dir ?? dirname(file);
  const diags = new Diagnostics();
  const config: StackConfig = {
    name: stack.name ?? basename(dir),
    file,
    dir,
    resources: new Map(),
    invalid: new Set(),
    outputs: new Map(),
  };
  const at = (loc: SourceRange | undefined): SourceRange => loc ?? { file, line: 1, column: 1 };
  const declaredAt = new Map<string, SourceRange>();
  const refs = new Placeholders();

  for (const r of stack.resources) {
    const field = `resources.${r.name}`;
    const here = at(r.location);
    const locate: Locator = () => here;
    if (typeof r.name !== 'string' || !NAME_RE.test(r.name)) {
      diags.error(
        'resource names use letters, digits, `_` and `-`, starting with a letter or `_`',
        field,
        here,
      );
      config.invalid!.add(String(r.name));
      continue;
    }
    const first = declaredAt.get(r.name);
    if (first) {
      diags.error(`a resource named ${r.name} is already declared at ${where(first)}`, field, here);
      continue;
    }
    declaredAt.set(r.name, here);
    if (!isResourceType(r.type)) {
      diags.error(
        `unknown resource type ${JSON.stringify(r.type)}; known types: ${resourceTypes.join(', ')}`,
        field,
        here,
      );
      config.invalid!.add(r.name);
      continue;
    }
    const problem = (message: string, path: (string | number)[]) =>
      diags.error(message, `${field}.properties${path.length ? `.${formatPath(path)}` : ''}`, here);
    const raw = refs.toRaw(r.props ?? {}, stack, [], problem);
    const { properties, problems } = normalizeProperties(r.type, r.name, raw as Record<string, unknown>, dir);
    for (const p of problems) problem(p.message, p.path);
    const dependsOn: string[] = [];
    (r.options?.dependsOn ?? []).forEach((d, i) => {
      if (!hasBrand(d, 'resource') || d.stack !== stack)
        diags.error('must be a resource of this stack', `${field}.dependsOn[${i}]`, here);
      else dependsOn.push(d.name);
    });
    const o = normalizeOptions(r.type, r.options?.lifecycle, r.options?.timeouts);
    for (const p of o.problems) diags.error(p.message, `${field}.${formatPath(p.path)}`, here);
    config.resources.set(r.name, {
      name: r.name,
      type: r.type,
      properties: refs.restore(properties) as Record<string, Value>,
      dependsOn,
      locate,
      lifecycle: o.lifecycle,
      timeouts: o.timeouts,
    });
  }

  for (const o of stack.outputs) {
    const field = `outputs.${o.name}`;
    const here = at(o.location);
    if (config.outputs.has(o.name)) {
      diags.error(`an output named ${o.name} is already declared`, field, here);
      continue;
    }
    const problem = (message: string) => diags.error(message, field, here);
    const value = refs.restore(fromRawJson(refs.toRaw(o.value, stack, [], problem), problem));
    const out: OutputConfig = {
      name: o.name,
      value,
      sensitive: o.sensitive === true,
      description: o.description,
      locate: () => here,
    };
    config.outputs.set(o.name, out);
  }
  return { config, diagnostics: diags };
}

/** A literal string as `${...}` text: `$${` is a literal `${`. */
function literal(s: string): string {
  // A function, because in a replacement string `$$` means one `$`.
  return s.replaceAll('${', () => '$${');
}

function where(r: SourceRange): string {
  return `${r.file}:${r.line}:${r.column}`;
}

/**
 * Stands in for tokens while properties pass through `normalizeProperties`, which reads `${...}` text:
 * each token (one reference, or a template of text and references) becomes `${__stratus_ref_N}`, always
 * well-formed whatever the resource's name, and is swapped back for the real `Ref` or `Template`
 * afterwards. Text never goes through the `${...}` syntax, which cannot say "a `$` followed by a
 * reference"; literal strings are escaped (`$${`), so a shell script's `${HOME}` in user data stays text.
 */
class Placeholders {
  private readonly byKey = new Map<string, Ref | Template>();

  /** Plain JSON with placeholders for `v`, reporting values that are not JSON. */
  toRaw(v: unknown, stack: Stack, path: (string | number)[], problem: Problem): unknown {
    if (typeof v === 'string') return literal(v);
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
    if (hasBrand(v, 'resource'))
      return this.token([{ resource: v as Resource, path: [] }], stack, path, problem);
    if (hasBrand(v, 'token')) return this.token((v as Token<unknown>).parts, stack, path, problem);
    if (Array.isArray(v)) return v.map((x, i) => this.toRaw(x, stack, [...path, i], problem));
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v))
        if (x !== undefined) out[k] = this.toRaw(x, stack, [...path, k], problem);
      return out;
    }
    const what = typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
    problem(
      `a ${what} is not a value Stratus can store; use strings, numbers, booleans, arrays, objects and tokens`,
      path,
    );
    return null;
  }

  private token(
    parts: readonly (string | AttributeRef)[],
    stack: Stack,
    path: (string | number)[],
    problem: Problem,
  ): string {
    const merged: (string | Ref)[] = [];
    for (const p of parts) {
      const last = merged.at(-1);
      if (typeof p !== 'string') {
        if (p.resource.stack !== stack)
          problem(`refers to ${p.resource.name}, a resource of another stack`, path);
        merged.push(refTo(p));
      } else if (typeof last === 'string') merged[merged.length - 1] = last + p;
      else if (p) merged.push(p);
    }
    const [only] = merged;
    if (merged.length <= 1 && typeof only !== 'object') return literal(only ?? '');
    const key = `__stratus_ref_${this.byKey.size}`;
    this.byKey.set(key, merged.length === 1 ? (only as Ref) : new Template(merged));
    return `\${${key}}`;
  }

  /** `v` with placeholders replaced by the references and templates they stand for. */
  restore(v: Value): Value {
    if (v instanceof Ref) return this.byKey.get(v.resource) ?? v;
    if (Array.isArray(v)) return v.map((x) => this.restore(x));
    if (v !== null && typeof v === 'object' && !(v instanceof Template))
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.restore(x)]));
    return v;
  }
}

type Problem = (message: string, path: (string | number)[]) => void;

/** The reference a token part stands for, with the text a stack file would have: `${web.accessIpV4}`. */
function refTo(ref: AttributeRef): Ref {
  const name = ref.resource.name;
  return new Ref(name, ref.path, `\${${ref.path.length ? `${name}.${formatPath(ref.path)}` : name}}`);
}
